/** ReloadPodsFunction ↔ state "Reload pods". */
import { makeHandler } from '../middleware/index.js';
import { parseReloadPods } from '../steps/inputs.js';
import { reloadPods } from '../steps/reload-pods.js';

export const handler = makeHandler(parseReloadPods, reloadPods);
