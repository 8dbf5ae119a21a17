/**
 * Letters of other scripts drawn like Latin ones (Unicode's confusables for a–z), so that a key
 * spelled `pаssword` with a Cyrillic `а`, or `ΑPI_KEY` with a Greek `Α`, is read as the name it
 * imitates. Compatibility forms (full-width `ｐａｓｓ`, ligatures, mathematical letters) need no
 * table: NFKD already turns them into Latin letters. Case is kept, for camelCase splitting.
 */
import { DIGIT_CLASS, digitValue } from './unicode-digits.js';

const PAIRS: ReadonlyArray<readonly [string, string]> = [
  // Cyrillic
  ['аА', 'aA'], ['вВ', 'bB'], ['еЕ', 'eE'], ['ѕЅ', 'sS'], ['іІ', 'iI'], ['јЈ', 'jJ'], ['кК', 'kK'], ['мМ', 'mM'],
  ['нН', 'hH'], ['оО', 'oO'], ['рР', 'pP'], ['сС', 'cC'], ['тТ', 'tT'], ['уУ', 'yY'], ['хХ', 'xX'], ['ԁ', 'd'],
  ['ԛԚ', 'qQ'], ['ԝԜ', 'wW'], ['үҮ', 'yY'], ['һҺ', 'hH'], ['ӏӀ', 'lI'], ['ь', 'b'], ['ɡ', 'g'],
  // Greek
  ['αΑ', 'aA'], ['βΒ', 'bB'], ['εΕ', 'eE'], ['ζΖ', 'zZ'], ['ηΗ', 'nH'], ['ιΙ', 'iI'], ['κΚ', 'kK'], ['μΜ', 'uM'],
  ['νΝ', 'vN'], ['οΟ', 'oO'], ['ρΡ', 'pP'], ['τΤ', 'tT'], ['υΥ', 'uY'], ['χΧ', 'xX'], ['ω', 'w'], ['γ', 'y'],
  // Latin letters NFKD leaves alone: dotless i and j, small capitals, script forms
  ['ıȷɑɩɪʏƒ', 'ijaiiyf'], ['ᴀʙᴄᴅᴇɢʜᴊᴋʟᴍɴᴏᴘʀꜱᴛᴜᴠᴡᴢ', 'abcdeghjklmnoprstuvwz'],
  // Armenian
  ['օսհոզց', 'ouhnqg'],
  // Cherokee capitals
  ['ᎪᏴᏟᎬᎻᎫᏦᏞᎷᏢᏚᎢᎳᏃ', 'ABCEHJKLMPSTWZ'],
];

/** Each row's letters map one to one, in order. */
export const LOOK_ALIKES: ReadonlyMap<string, string> = new Map(PAIRS.flatMap(([from, to]) => [...from].map((c, i) => [c, to[i]!] as const)));

const INVISIBLE = /[\p{M}\p{Cf}\u115f\u1160\u3164\uffa0]/gu;
/**
 * Decimal digits, of every script: NFKD leaves Arabic-Indic `٣` or Devanagari `३` as they are,
 * and read as letters they made `password٣` one word, no secret's name; read as `password3`,
 * its trailing number is dropped as any other's.
 */
const DIGIT = new RegExp(DIGIT_CLASS, 'g');
const NOT_LETTER_OR_DIGIT = /[^\p{L}\p{N}]+/gu;
const LOOK_ALIKE = new RegExp(`[${[...LOOK_ALIKES.keys()].join('')}]`, 'gu');

/**
 * A name as a reader sees it: compatibility forms decomposed (NFKD), marks and invisible
 * characters (zero-width spaces and joiners, bidi controls, soft hyphens, Hangul fillers)
 * dropped, look-alike letters read as Latin, and every other character that is neither a letter
 * nor a digit made a space.
 */
export function readableName(name: string): string {
  let read = '';
  for (let i = 0; i < name.length; i++) {
    const code = name.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdfff) return readWhole(name);
    let char = READ_CHARS[code];
    if (char === undefined) {
      char = readWhole(String.fromCharCode(code));
      READ_CHARS[code] = char;
    }
    // A run of what is neither a letter nor a digit is one space, across characters too.
    read += char.charCodeAt(0) === 0x20 && read.charCodeAt(read.length - 1) === 0x20 ? char.slice(1) : char;
  }
  return read;
}

function readWhole(name: string): string {
  return name
    .normalize('NFKD')
    .replace(INVISIBLE, '')
    .replace(LOOK_ALIKE, (c) => LOOK_ALIKES.get(c)!)
    .replace(DIGIT, (c) => String(digitValue(c.charCodeAt(0))))
    .replace(NOT_LETTER_OR_DIGIT, ' ');
}

/**
 * What readableName makes of each code unit of the Basic Multilingual Plane alone, filled as
 * they are met. NFKD decomposes each character by itself (the marks it may reorder are dropped),
 * and the rest is per character, so a name is read a character at a time from here: names in
 * other scripts come from clients, thousands per request, and the whole reading costs about a
 * microsecond a name. Surrogate pairs (mathematical letters) are read whole.
 */
const READ_CHARS = new Array<string | undefined>(0x10000);
