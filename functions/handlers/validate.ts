/** ValidateFunction ↔ state "Validate". */
import { makeHandler } from '../middleware/index.js';
import { parseValidateEvent, validate } from '../steps/validate.js';

export const handler = makeHandler(parseValidateEvent, validate);
