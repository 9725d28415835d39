// Writes docs/errors.md from the code registry (`npm run docs:errors`); a unit test checks they agree.
import { writeFileSync } from 'node:fs';
import { problemRegistry } from '../packages/sessionkeeper/src/core/problems.js';

const rows = Object.entries(problemRegistry).map(
  ([code, p]) =>
    `| \`${code}\` | \`${p.slug}\` | ${p.status} | ${p.action} | ${p.meaning} | ${p.remedy} |`,
);

const doc = `# Errors

Every failure is an [RFC 9457](https://www.rfc-editor.org/rfc/rfc9457) problem. In the library it is a typed error class with a stable \`code\`; over HTTP it is an \`application/problem+json\` body whose \`type\` is \`/problems/<slug>\` (the service serves a page there, and so does an app with the middleware; with the middleware's \`problemTypeBase\` option the type is the absolute \`<problemTypeBase>/problems/<slug>\`, see [middleware.md](middleware.md#problem-pages)) and whose \`action\` tells a client what to do next: \`refresh\`, \`reauthenticate\`, \`retry\` or \`fix-request\`. Check errors with \`instanceof\` or \`code\`, never by message text: the message is the specific \`detail\` (for example "Session expired after 30 minutes of inactivity; last activity at 2026-01-15T10:00:00Z").

| code | slug | status | action | what happened | what to do |
| --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

## Library error classes

| class | code | thrown or returned |
| --- | --- | --- |
| \`ValidationError\` (has \`field\`) | validation-failed | thrown for a bad argument or option; nothing was written |
| \`PayloadTooLargeError\` | payload-too-large | thrown when session data exceeds \`maxDataBytes\` |
| \`StoreUnavailableError\` (has \`retryAfterSeconds\`) | store-unavailable | thrown when the store cannot be reached; nothing was changed |
| \`SessionLimitReachedError\` (has \`scope\`, \`max\`) | session-limit-reached | thrown by \`create\` under a \`refuse\` cap |
| \`InvalidTokenError\`, \`SessionNotFoundError\`, \`SessionExpiredError\`, \`SessionLifetimeExceededError\`, \`SessionRevokedError\` (all \`SessionInvalidError\`, with \`reason\`) | invalid-token, session-not-found, session-expired, session-lifetime-exceeded, session-revoked | returned by \`validate\` / \`renew\` as \`{ ok: false, error }\`: an invalid token is an expected outcome, not an exception |
`;

writeFileSync(new URL('../docs/errors.md', import.meta.url), doc);
