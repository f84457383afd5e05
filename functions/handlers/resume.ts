/** ResumeFunction ↔ state "Resume". */
import { makeHandler } from '../middleware/index.js';
import { parseResume } from '../steps/inputs.js';
import { resume } from '../steps/resume.js';

export const handler = makeHandler(parseResume, resume);
