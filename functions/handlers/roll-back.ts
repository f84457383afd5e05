/** RollBackFunction ↔ states "Roll back" (stage restore) and "Finish rollback" (stage finish). */
import { makeHandler } from '../middleware/index.js';
import { parseRollBack } from '../steps/inputs.js';
import { rollBack } from '../steps/roll-back.js';

export const handler = makeHandler(parseRollBack, rollBack);
