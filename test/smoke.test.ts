import t from 'tap';
t.test("tap runs TypeScript with Node's type stripping", async (t) => {
  const n: number = 2;
  t.equal(n + 1, 3);
});
