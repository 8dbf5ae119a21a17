import t from 'tap';
import { maskNamedValues, type PairJudge } from '../../src/masking/text-pairs.js';

/** Names by words, as the key rules would judge them here: `password`, `token`, `api key`, `cookie`. */
const SENSITIVE = /^(?:.*[._-])?(?:password|passwd|token|secret)$|^(?:x-)?api[ _-]?key$|^cookie$|^authorization$/i;
const judge: PairJudge<string> = {
  ruleFor: (name) => (SENSITIVE.test(name.trim()) || /^(?:store|key)pass$/.test(name) ? (/^cookie$/i.test(name) ? 'cookie' : 'full') : undefined),
  maskValue: (value, rule) => (rule === 'cookie' ? value.replace(/=([^;]*)/g, '=****') : '****'),
  isCookie: (rule) => rule === 'cookie',
  endsLongerName: (name) => name.toLowerCase() === 'key',
};
const mask = (text: string) => maskNamedValues(text, judge);

t.test('masks the value of a sensitive name in every shape services write', async (t) => {
  const cases: Array<[string, string]> = [
    ['login failed password=hunter2 user=bob', 'login failed password=**** user=bob'],
    ['passwd: hunter2', 'passwd: ****'],
    ['got {"password":"hunter2","user":"bob"} back', 'got {"password":"****","user":"bob"} back'],
    ['{"password" : "hunter2"}', '{"password" : "****"}'],
    ['said {\\"password\\":\\"hunter2\\",\\"ok\\":false}', 'said {\\"password\\":\\"****\\",\\"ok\\":false}'],
    ["kwargs={'password': 'hunter2', 'retries': 3}", "kwargs={'password': '****', 'retries': 3}"],
    ['{Host:db Password:hunter2 Port:5432}', '{Host:db Password:**** Port:5432}'],
    ["User{id=7, password='hunter2', active=true}", "User{id=7, password='****', active=true}"],
    ['{"user"=>{"password"=>"hunter2"}}', '{"user"=>{"password"=>"****"}}'],
    ['DB_PASSWORD=hunter2', 'DB_PASSWORD=****'],
    ['GET /cb?access_token=abc123&state=xyz', 'GET /cb?access_token=****&state=xyz'],
    ['user[password]=hunter2&user[name]=bob', 'user[password]=****&user[name]=bob'],
    ["$password = 'hunter2';", "$password = '****';"],
    ['password := "hunter2"', 'password := "****"'],
    ['<auth><password>hunter2</password></auth>', '<auth><password>****</password></auth>'],
    ['<wsse:Password Type="PasswordText">hunter2</wsse:Password>', '<wsse:Password Type="PasswordText">****</wsse:Password>'],
    ['mysql --password hunter2 -h db', 'mysql --password **** -h db'],
    ['mysql --password=hunter2 -h db', 'mysql --password=**** -h db'],
    ['the api key: abc123', 'the api key: ****'],
    ['X-Api-Key: abc123', 'X-Api-Key: ****'],
    ['password：hunter2', 'password：****'],
    ['password＝hunter2', 'password＝****'],
    ['{"password": {"inner": "x", "list": [1, 2]}, "ok": 1}', '{"password": ****, "ok": 1}'],
    ['password="unterminated', 'password="****'],
  ];
  for (const [text, masked] of cases) t.equal(mask(text), masked, text);
});

t.test('passwords on command lines', async (t) => {
  const cases: Array<[string, string]> = [
    ['curl -u admin:hunter2 https://api', 'curl -u admin:**** https://api'],
    ['curl --user admin:hunter2 https://api', 'curl --user admin:**** https://api'],
    ['docker login -u bob -p hunter2 registry.example.com', 'docker login -u bob -p **** registry.example.com'],
    ['sshpass -p hunter2 ssh deploy@host', 'sshpass -p **** ssh deploy@host'],
    ['mysql -u root -phunter2 -h db', 'mysql -u root -p**** -h db'],
    ['keytool -importkeystore -storepass hunter2 -keypass hunter3', 'keytool -importkeystore -storepass **** -keypass ****'],
    ['$ mysql -u root -phunter2 db; mysqldump -u root -phunter3 db', '$ mysql -u root -p**** db; mysqldump -u root -p**** db'],
    ['redis-cli -h cache -a hunter2 ping\nssh -p 2222 host', 'redis-cli -h cache -a **** ping\nssh -p 2222 host'],
  ];
  for (const [text, masked] of cases) t.equal(mask(text), masked, text);
  for (const kept of ['curl -u admin https://api', 'psql -h db -p 5432 -U app', 'ssh -p 2222 host', 'ls -la /tmp', 'git commit -m "fix password check"', 'ran mysql\npsql -p 5432', 'ran mysql\nls -a /tmp']) {
    t.equal(mask(kept), kept, kept);
  }
});

t.test('where a value ends', async (t) => {
  t.equal(mask('Authorization: Basic dXNlcjpwYXNz'), 'Authorization: ****', 'a scheme takes its credentials');
  t.equal(mask('authorization=Bearer abc next=1'), 'authorization=**** next=1');
  t.equal(mask('Cookie: sid=abc; theme=dark\nnext line'), 'Cookie: sid=****; theme=****\nnext line', 'a cookie runs to the end of the line');
  t.equal(mask('password: correct horse battery staple'), 'password: ****', 'after `name: `, words to the end of the line');
  t.equal(mask('password: correct horse user=bob'), 'password: **** user=bob', 'up to the next pair');
  t.equal(mask('password: abc, retrying'), 'password: ****, retrying', 'up to a comma');
  t.equal(mask('password=abc def'), 'password=**** def', 'after `=`, one token');
  t.equal(mask('password="abc def" x=1'), 'password="****" x=1', 'quoted: to the closing quote');
  t.equal(mask("password='it\\'s' x=1"), "password='****' x=1", 'escaped quotes');
  t.equal(mask('password=abc&x=1;y=2'), 'password=****&x=1;y=2');
});

t.test('keeps what is not a value of a sensitive name', async (t) => {
  for (const text of [
    'level=info msg="ok" duration=5ms',
    'password reset requested',
    'password=',
    'password: null',
    '{"password": true}',
    'token_type=Bearer expires_in=3600',
    'Failed to verify token: signature expired',
    'https://user@example.com:8443/path',
    'std::string password::value',
    'a == b && password != c',
    'time 12:00:07 on 2025-09-24',
    'ipv6 ::1 and fe80::1',
    '<br> <password/> <a href="x">',
    '-- password hunter2',
    'checksum=SxmJXeAZWBTwTKmOEh7wzCiPasswordTOKEN= cursor=abc',
    '',
  ]) {
    t.equal(mask(text), text, text);
  }
});

t.test('prose after `name: ` in mid-sentence is kept, a credential is not', async (t) => {
  t.equal(mask('Failed to verify token: expired signature'), 'Failed to verify token: expired signature');
  t.equal(mask('user bob token: abc123'), 'user bob token: ****', 'a credential-like value');
  t.equal(mask('login, token: expired'), 'login, token: ****', 'at the start of a segment');
  t.equal(mask('  token: expired'), '  token: ****', 'at the start of a line');
});

t.test('is linear on 100 kB made to make it read back and forth', async (t) => {
  const hostile = ['a='.repeat(50_000), `${'a'.repeat(100_000)}=`, 'password="'.repeat(10_000), '<a'.repeat(50_000), '-- --a '.repeat(14_000), `password={${'['.repeat(100_000)}`, ':'.repeat(100_000), 'x: '.repeat(33_000)];
  for (const text of hostile) t.type(mask(text), 'string');
});

t.test('finds the `[` of a bracketed name and the command of a one-letter flag in linear time: 1 MB in seconds', async (t) => {
  // Each `]` once looked back over the whole text for its `[`, and each `-p` over 256 characters
  // for a command: minutes for a megabyte. Linear, 1 MB takes about a second; 10 s is generous.
  const hostile = [']='.repeat(500_000), `[${'a]='.repeat(333_000)}`, 'x]: '.repeat(250_000), ' -p'.repeat(333_000), 'mysql -p '.repeat(111_000), ' -a'.repeat(333_000)];
  for (const text of hostile) {
    const start = performance.now();
    t.type(mask(text), 'string');
    t.ok(performance.now() - start < 10_000, `${JSON.stringify(text.slice(0, 9))}… in ${Math.round(performance.now() - start)} ms`);
  }
});
