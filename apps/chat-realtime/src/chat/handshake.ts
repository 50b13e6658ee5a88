import type { ChatConfig } from '../config';
import type { ChatIo } from './chat-context';
import { IdentityError, resolveIdentity } from './identity';
import { isOriginAllowed, requestHost, trustsPeer } from './origin-policy';
import { SlidingWindowLimiter } from './rate-limiter';

type Refusal = Error & { data: { code: string } };

function refusal(code: string, message: string): Refusal {
  const failure = new Error(message) as Refusal;
  failure.data = { code };
  return failure;
}

/**
 * The handshake: the page's Origin first (a foreign page's socket is refused without a call to
 * auth-session), then who connects (a session checked by auth-session, or a guest where allowed).
 */
export function useHandshake(io: ChatIo, options: ChatConfig): void {
  const trusted = trustsPeer(options.trustProxy);
  io.use((socket, next) => {
    const { headers, address } = socket.handshake;
    const host = requestHost(headers, address, trusted);
    if (isOriginAllowed(headers.origin, host, options.allowedOrigins)) return next();
    next(
      refusal(
        'FOREIGN_ORIGIN',
        'this page may not open a chat connection: its origin is not allowed',
      ),
    );
  });

  io.use((socket, next) => {
    const auth = (socket.handshake.auth ?? {}) as Record<string, unknown>;
    resolveIdentity(
      { cookie: socket.handshake.headers.cookie, guestName: auth.name, guestId: auth.guestId },
      options,
    ).then(
      (user) => {
        socket.data.user = user;
        socket.data.fallback = new SlidingWindowLimiter(
          options.rateLimitMax,
          options.rateLimitWindowMs,
        );
        socket.data.typing = new SlidingWindowLimiter(
          options.typingRateMax,
          options.typingRateWindowMs,
        );
        next();
      },
      (error: unknown) => {
        const refused =
          error instanceof IdentityError
            ? error
            : new IdentityError('AUTH_UNAVAILABLE', 'cannot verify the session');
        next(refusal(refused.code, refused.message));
      },
    );
  });
}
