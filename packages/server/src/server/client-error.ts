import { randomUUID } from 'node:crypto';
import { type IncomingMessage, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { SessionkeeperError, ValidationError } from 'sessionkeeper/internal/errors';
import type { Problem } from 'sessionkeeper/internal/problem';
import { PROBLEM_CONTENT_TYPE, toProblem } from 'sessionkeeper/internal/problem';

/** A problem for a request that never fully arrived: `about:blank` has no registry code. */
type InternalProblem = Omit<Problem, 'code'> & { code?: string };

/**
 * Answers requests Node's HTTP parser rejects before Fastify sees them (oversized headers, broken
 * request lines) with a problem written straight to the socket, then closes the connection.
 */
export function createClientErrorHandler(logger: Logger, now: () => number) {
  return (error: NodeJS.ErrnoException, socket: Duplex): void => {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const requestId = randomUUID();
    const problem = problemFor(error, requestId, new Date(now()));
    logger.debug(
      { reqId: requestId, code: error.code, status: problem.status },
      'malformed request rejected',
    );
    writeProblemAndClose(socket, problem);
  };
}

/** CONNECT requests (proxy tunnels) bypass routing in Node; they get the same not-found as any unknown route. */
export function createConnectHandler(now: () => number) {
  return (request: IncomingMessage, socket: Duplex): void => {
    const requestId = randomUUID();
    const target = (request.url ?? '').slice(0, 200);
    const problem = toProblem(
      new SessionkeeperError('NOT_FOUND', `There is no endpoint CONNECT ${target}`),
      {
        requestId,
        now: new Date(now()),
      },
    );
    writeProblemAndClose(socket, problem);
  };
}

function writeProblemAndClose(socket: Duplex, problem: InternalProblem): void {
  if (socket.writable && problem.requestId !== undefined) {
    const body = JSON.stringify(problem);
    socket.write(
      `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status] ?? ''}\r\n` +
        `Content-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Request-Id: ${problem.requestId}\r\n` +
        'Cache-Control: no-store\r\n' +
        `Connection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

function problemFor(error: NodeJS.ErrnoException, requestId: string, now: Date): InternalProblem {
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    // No registry entry fits a request that never finished arriving; RFC 9457's about:blank does.
    return {
      type: 'about:blank',
      title: 'Request Timeout',
      status: 408,
      detail: 'The request was not received completely in time',
      action: 'retry',
      requestId,
      timestamp: now.toISOString(),
    };
  }
  const reason =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? new SessionkeeperError(
          'REQUEST_HEADER_FIELDS_TOO_LARGE',
          'The request line and headers are larger than the server accepts; send fewer or smaller cookies and headers',
        )
      : new ValidationError('request', `is not valid HTTP/1.1 (${error.code ?? 'parse error'})`);
  return toProblem(reason, { requestId, now });
}
