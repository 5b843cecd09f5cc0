// What every part of the build proxy works with: the services it was given, the exchange
// at hand, and how an exchange's outcome is counted.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { EventSink, ProxyOutcome } from '../domain/events.js';
import type { ContentStore } from '../domain/stores.js';
import type { Builds } from '../services/builds.js';
import type { InputRecorder } from '../services/recorder.js';
import type { KeyedHash } from '../domain/matching.js';
import type { Mirror } from '../services/mirror.js';
import type { LiveToken, TokenService } from '../../token-service/token-service.js';
import type { UpstreamClient } from '../upstream/upstream.js';
import type { CertificateAuthority } from './authority.js';

export interface ProxyServices {
  config: Config;
  tokens: TokenService;
  builds: Builds;
  content: ContentStore;
  /** Each build's recording, within its limits. */
  recorder: InputRecorder;
  /** The keyed hash recordings keep of request header values. */
  recordingHash: KeyedHash;
  mirror: Mirror;
  emit: EventSink;
  logger: Logger;
  authority: CertificateAuthority;
  upstream: UpstreamClient;
  now: () => number;
}

/** One request through the proxy: the absolute URL it asks for, and the live token it acts for. */
export interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  token: LiveToken;
  url: string;
}

/** Counts an exchange's outcome (the proxy's metrics), with the body bytes it carried. */
export function reportExchange(services: ProxyServices, mode: LiveToken['proxy'], outcome: ProxyOutcome, bytes = 0): void {
  services.emit({ event: 'proxy.exchange', mode, outcome, bytes });
}

/** Now, as a recording line's time. */
export const isoNow = (services: ProxyServices): string => new Date(services.now()).toISOString();
