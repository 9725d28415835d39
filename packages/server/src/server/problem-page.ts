// The pages are shared with the middleware, which serves them on apps (docs/middleware.md).
export {
  renderProblemIndex,
  renderProblemPage,
} from '@sessionkeeper/middleware/internal/problem-page';
