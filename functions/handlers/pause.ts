/** PauseFunction ↔ state "Pause". */
import { makeHandler } from '../middleware/index.js';
import { parsePause } from '../steps/inputs.js';
import { pause } from '../steps/pause.js';

export const handler = makeHandler(parsePause, pause);
