import test from 'ava';
import { SessionSeats } from '../../node-agent/session-seats.ts';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

test('seats are counted node-wide and per user; the next one past a limit is refused with its code', (t) => {
  const seats = new SessionSeats({ maxSessions: 3, maxSessionsPerUser: 2 });
  seats.reserve('alice');
  seats.reserve('alice');
  t.is(codeOf(() => seats.reserve('alice')), 'RPF_ERR_AGENT_USER_SESSION_LIMIT');
  seats.reserve('bob');
  t.is(codeOf(() => seats.reserve('carol')), 'RPF_ERR_AGENT_SESSION_LIMIT');
  t.is(seats.total, 3);
});

test('release gives a seat back exactly once, however often it is called', (t) => {
  const seats = new SessionSeats({ maxSessions: 5, maxSessionsPerUser: 2 });
  const first = seats.reserve('alice');
  seats.reserve('alice');
  first.release();
  first.release();
  t.is(seats.total, 1);
  t.is(seats.heldBy('alice'), 1);
  seats.reserve('alice');
  t.is(codeOf(() => seats.reserve('alice')), 'RPF_ERR_AGENT_USER_SESSION_LIMIT');
});
