// Admission to a build's recording: the build proxy asks for room before it makes an
// exchange (the store holds a line for it, across replicas), then records the exchange in
// that room or gives the room back.
import { Failure } from '../domain/errors.js';
import type { InputLine, InputStore, RecordingLimits } from '../domain/stores.js';

/** A build's recording has no room for another exchange: the proxy answers 507, naming the limit. */
export class RecordingFull extends Failure {
  constructor(message: string) {
    super('insufficient-storage', message);
  }
}

function fullMessage(build: readonly string[], limit: 'lines' | 'bytes', limits: RecordingLimits): string {
  return limit === 'lines'
    ? `the recording of /${build.join('/')}/ is full: it may hold ${limits.maxLines} lines (INPUTS_MAX_LINES); this exchange is not made`
    : `the recording of /${build.join('/')}/ is full: it may hold ${limits.maxBytes} bytes (INPUTS_MAX_RECORD_SIZE); this exchange is not made`;
}

/** An exchange admitted to a build's recording: recorded once it is complete, or let go. */
export interface RecordingTicket {
  /** Appends the exchange's line, in the room held for it. */
  record(line: InputLine): Promise<void>;
  /** Gives the room back, unless the line was recorded. */
  release(): void;
}

/**
 * Admits an exchange to a build's recording only while the recording has room for it (the
 * store holds a line for it, across replicas), so that an exchange that is made is
 * recorded, never left out because others filled the recording meanwhile.
 */
export class InputRecorder {
  constructor(
    readonly store: InputStore,
    readonly limits: RecordingLimits,
  ) {}

  async admit(build: readonly string[]): Promise<RecordingTicket> {
    const refusal = await this.store.reserve(build, this.limits);
    if (refusal !== null) throw new RecordingFull(fullMessage(build, refusal, this.limits));
    let held = true;
    return {
      record: async (line) => {
        if (!held) throw new Error('this exchange was let go');
        held = false;
        await this.store.appendReserved(build, line);
      },
      release: () => {
        if (!held) return;
        held = false;
        void this.store.unreserve(build).catch(() => undefined);
      },
    };
  }
}
