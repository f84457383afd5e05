/** RestartPodFunction ↔ state "Restart pod". */
import { makeHandler } from '../middleware/index.js';
import { parseRestartPod } from '../steps/inputs.js';
import { restartPod } from '../steps/restart-pod.js';

export const handler = makeHandler(parseRestartPod, restartPod);
