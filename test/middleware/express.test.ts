import { middlewareCases } from './cases.js';
import { startExpressApp } from './express-app.js';

middlewareCases('express', startExpressApp);
