/** ChangeCertificatesFunction ↔ state "Change certificates". */
import { makeHandler } from '../middleware/index.js';
import { changeCertificates } from '../steps/change-certificates.js';
import { parseChangeCertificates } from '../steps/inputs.js';

export const handler = makeHandler(parseChangeCertificates, changeCertificates);
