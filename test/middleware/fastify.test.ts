import { middlewareCases } from './cases.js';
import { startFastifyApp } from './fastify-app.js';

middlewareCases('fastify', startFastifyApp);
