/** An error the HTTP layer turns into `{ "error": { code, message } }` with its status (4xx for the caller's mistakes). */
export class QueryError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const badRequest = (code: string, message: string) => new QueryError(400, code, message);
export const notFound = (code: string, message: string) => new QueryError(404, code, message);
