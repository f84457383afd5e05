/** ValidateFunction ↔ state "Validate". */
import { makeHandler } from '../middleware/index.js';
import { validate } from '../steps/validate.js';
import { parseValidateEvent } from '../steps/validate-input.js';

export const handler = makeHandler(parseValidateEvent, validate);
