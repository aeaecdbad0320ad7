import test from 'ava';
import { findAs, parseAccept } from '../../server/media-type.ts';

test('Accept ranges are parsed with parameters and sorted by q, stably', (t) => {
  const ranges = parseAccept('application/json;q=0.5, application/json;as=Table;v=v1;g=meta.k8s.io, */*;q=0');
  t.deepEqual(ranges.map((r) => r.params['as'] ?? r.type), ['Table', 'application/json']);
});

test('a missing Accept header accepts anything', (t) => {
  t.deepEqual(parseAccept(undefined).map((r) => r.type), ['*/*']);
});

test('the Table media type is found in kubectl\'s Accept header', (t) => {
  const accept = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';
  t.is(findAs(parseAccept(accept), 'Table', 'meta.k8s.io', ['v1', 'v1beta1'])?.params['v'], 'v1');
  t.is(findAs(parseAccept('application/json'), 'Table', 'meta.k8s.io', ['v1']), undefined);
});
