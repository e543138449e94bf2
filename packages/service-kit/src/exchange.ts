/**
 * One HTTP request and its whole answer, dispatched straight on an undici dispatcher. Every
 * packet crosses links made of these (a client's submit, every request between services), and
 * undici's `request` costs more than the answer is worth here: an async resource and a Readable
 * stream per response only to be read to its end. The answer comes back as text, with the
 * status and headers; connection errors reject as they do with `request`.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';

export interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
}

/** `options.origin` and `options.path` name the resource (`path` starts with `/`). */
export function exchange(dispatcher: Dispatcher, options: Dispatcher.DispatchOptions): Promise<Answer> {
  const { promise, resolve, reject } = Promise.withResolvers<Answer>();
  let status = 0;
  let headers: IncomingHttpHeaders = {};
  const chunks: Buffer[] = [];
  const handler: Dispatcher.DispatchHandler = {
    onRequestStart: () => {},
    onResponseStart: (_controller, statusCode, responseHeaders) => {
      if (statusCode < 200) return; // informational: the answer follows
      status = statusCode;
      headers = responseHeaders;
    },
    onResponseData: (_controller, chunk) => {
      chunks.push(chunk);
    },
    onResponseEnd: () => {
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      resolve({ status, headers, text: body.toString('utf8') });
    },
    onResponseError: (_controller, error) => reject(error),
  };
  try {
    dispatcher.dispatch(options, handler);
  } catch (error) {
    reject(error);
  }
  return promise;
}
