import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { DomainError, unavailable } from './domain-error';
import { isDatabaseUnavailable } from './postgres';

/** Fastify's error envelope; every error response of every service has this shape. */
export const ErrorBody = Type.Object(
  {
    statusCode: Type.Integer(),
    code: Type.String(),
    error: Type.String(),
    message: Type.String(),
  },
  { $id: 'ErrorBody' },
);

const CODES: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
  500: 'INTERNAL_ERROR',
  502: 'BAD_GATEWAY',
  503: 'SERVICE_UNAVAILABLE',
  504: 'GATEWAY_TIMEOUT',
};

export function errorBody(statusCode: number, code: string, message: string) {
  return { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message };
}

/** One error handler: the envelope for everything, 5xx details hidden unless a DomainError. */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((raised: FastifyError | DomainError, request, reply) => {
    // A database that is away is the service being honest about a dependency, not a bug.
    const error =
      !(raised instanceof DomainError) && isDatabaseUnavailable(raised)
        ? unavailable('DATABASE_UNAVAILABLE', 'PostgreSQL is unavailable; retry shortly')
        : raised;
    const statusCode =
      error instanceof DomainError
        ? error.statusCode
        : error.statusCode && error.statusCode >= 400 && error.statusCode < 600
          ? error.statusCode
          : 500;
    const exposed = error instanceof DomainError || statusCode < 500;
    if (statusCode >= 500) request.log.error({ err: error }, 'request failed');
    if (error instanceof DomainError) reply.headers(error.headers);
    const code =
      error instanceof DomainError
        ? error.code
        : error.validation
          ? 'VALIDATION_ERROR'
          : exposed && error.code && !error.code.startsWith('FST_')
            ? error.code
            : (CODES[statusCode] ?? 'ERROR');
    return reply
      .code(statusCode)
      .send(errorBody(statusCode, code, exposed ? error.message : 'Internal Server Error'));
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send(
        errorBody(
          404,
          'NOT_FOUND',
          `Route ${request.method} ${request.url.split('?')[0]} not found`,
        ),
      ),
  );
}
