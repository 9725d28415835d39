import { middlewareCases } from './cases.js';
import { startHonoApp } from './hono-app.js';

middlewareCases('hono', startHonoApp);
