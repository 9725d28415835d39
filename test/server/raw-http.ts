import { connect } from 'node:net';

export interface RawRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Bytes sent as they are, instead of a request built from the fields above. */
  raw?: Buffer | string;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends one request over a fresh TCP connection, byte for byte as given (no client library
 * normalises or refuses anything), and reads the answer until the server closes the connection.
 */
export function sendRaw(
  port: number,
  request: RawRequest,
  timeoutMs = 10_000,
): Promise<RawResponse> {
  const bytes = request.raw === undefined ? buildRequest(request) : Buffer.from(request.raw);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer within ${timeoutMs} ms to ${describe(request)}`));
    }, timeoutMs);
    socket.on('data', (chunk) => chunks.push(chunk));
    // The server may answer and close before a large body is fully written: that is not a failure.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const parsed = parseResponse(text);
      if (parsed) resolve(parsed);
      else
        reject(
          new Error(
            `no HTTP answer to ${describe(request)}: ${JSON.stringify(text.slice(0, 200))}`,
          ),
        );
    });
    // Built requests say `connection: close`, so the server closes after answering. Raw bytes may
    // not, so the client half-closes after them (Node then drops a request still being handled,
    // which is fine: raw bytes are for requests the server refuses while parsing).
    socket.write(bytes, () => {
      if (request.raw !== undefined) socket.end();
    });
  });
}

function buildRequest(request: RawRequest): Buffer {
  const body = request.body === undefined ? Buffer.alloc(0) : Buffer.from(request.body);
  const headers: Record<string, string> = {
    host: '127.0.0.1',
    connection: 'close',
    ...request.headers,
  };
  if (
    request.body !== undefined &&
    !('content-length' in headers) &&
    !('transfer-encoding' in headers)
  ) {
    headers['content-length'] = String(body.length);
  }
  const head = [
    `${request.method ?? 'GET'} ${request.path ?? '/'} HTTP/1.1`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  return Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
}

function parseResponse(text: string): RawResponse | null {
  const end = text.indexOf('\r\n\r\n');
  if (end === -1) return null;
  const [statusLine = '', ...headerLines] = text.slice(0, end).split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]);
  if (!status) return null;
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    if (colon > 0)
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = text.slice(end + 4);
  if (headers['transfer-encoding'] === 'chunked') body = unchunk(body);
  return { status, headers, body: Buffer.from(body, 'latin1').toString('utf8') };
}

function unchunk(text: string): string {
  let out = '';
  let rest = text;
  for (;;) {
    const lineEnd = rest.indexOf('\r\n');
    const size = Number.parseInt(rest.slice(0, lineEnd), 16);
    if (!(size > 0)) return out;
    out += rest.slice(lineEnd + 2, lineEnd + 2 + size);
    rest = rest.slice(lineEnd + 2 + size + 2);
  }
}

export function describe(request: RawRequest): string {
  const raw =
    request.raw === undefined
      ? `${request.method ?? 'GET'} ${request.path ?? '/'}`
      : String(request.raw);
  return JSON.stringify(raw.slice(0, 120));
}
