/** CheckPodFunction ↔ states "Check pod" and "Check restored pod". */
import { makeHandler } from '../middleware/index.js';
import { checkPod } from '../steps/check-pod.js';
import { parseCheckPod } from '../steps/inputs.js';

export const handler = makeHandler(parseCheckPod, checkPod);
