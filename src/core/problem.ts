import { type SessionkeeperError, ValidationError } from './errors.js';
import { type ProblemAction, problemRegistry } from './problems.js';

/** An RFC 9457 problem details body, with sessionkeeper's extension members. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  code: string;
  action: ProblemAction;
  requestId?: string;
  timestamp: string;
  /** For `validation-failed`: the offending field. */
  field?: string;
}

export interface ProblemContext {
  /** The request path the problem is about. */
  instance?: string;
  requestId?: string;
  now?: Date;
  /** Prefix for `type` URIs; the server serves `/problems/{slug}`. */
  typeBase?: string;
}

/** The problem+json body for a sessionkeeper error. */
export function toProblem(error: SessionkeeperError, context: ProblemContext = {}): Problem {
  const definition = problemRegistry[error.code];
  const problem: Problem = {
    type: `${context.typeBase ?? ''}/problems/${definition.slug}`,
    title: definition.title,
    status: definition.status,
    detail: error.detail,
    code: error.code,
    action: definition.action,
    timestamp: (context.now ?? new Date()).toISOString(),
  };
  if (context.instance !== undefined) problem.instance = context.instance;
  if (context.requestId !== undefined) problem.requestId = context.requestId;
  if (error instanceof ValidationError) problem.field = error.field;
  return problem;
}
