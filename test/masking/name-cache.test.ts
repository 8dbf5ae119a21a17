import t from 'tap';
import { NameCache } from '../../src/masking/name-cache.js';

t.test('holds at most its bound of names, starting over past it', async (t) => {
  const cache = new NameCache<number>(3, 10);
  for (const [i, name] of ['a', 'b', 'c'].entries()) cache.set(name, i);
  t.equal(cache.size, 3);
  t.equal(cache.get('b'), 1);
  cache.set('d', 3);
  t.equal(cache.size, 1, 'one past the bound: it starts over');
  t.equal(cache.get('a'), undefined);
  t.equal(cache.get('d'), 3);
});

t.test('does not keep names longer than its bound', async (t) => {
  const cache = new NameCache<number>(10, 4);
  cache.set('abcd', 1);
  cache.set('abcde', 2);
  t.equal(cache.get('abcd'), 1);
  t.equal(cache.get('abcde'), undefined, 'one character over: judged again next time');
  t.equal(cache.size, 1);
});
