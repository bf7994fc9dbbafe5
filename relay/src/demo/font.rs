//! A small built-in bitmap font: 5x8 glyphs (row 7 is the descender row) drawn in a 6x12 cell,
//! rows 0-1 of the cell are left free for the accents of Latin-1 letters and row 10 for the
//! cedilla. The glyphs are drawn here as ASCII art and turned into bitmaps at compile time.

/// Cell size in font units (multiply by the drawing scale for pixels).
pub(crate) const CELL_W: usize = 6;
pub(crate) const CELL_H: usize = 12;
/// Row of the cell where glyph row 0 is drawn.
const GLYPH_TOP: usize = 2;

/// One glyph: 8 rows of 5 bits, bit 4 is the leftmost column.
pub(crate) type Glyph = [u8; 8];

/// Printable ASCII, 0x20 ..= 0x7e, in bands of 16 glyphs; a line starting with `=` names the
/// characters of the band below it and is skipped by the parser.
const ASCII_ART: &str = r##"
=       !     "     #     $     %     &     '     (     )     *     +     ,     -     .     /
..... ..#.. .#.#. .#.#. ..#.. ##... .##.. ..#.. ...#. .#... ..... ..... ..... ..... ..... .....
..... ..#.. .#.#. .#.#. .#### ##..# #..#. ..#.. ..#.. ..#.. ..#.. ..#.. ..... ..... ..... ....#
..... ..#.. ..... ##### #.#.. ...#. #.#.. .#... .#... ...#. #.#.# ..#.. ..... ..... ..... ...#.
..... ..#.. ..... .#.#. .###. ..#.. .#... ..... .#... ...#. .###. ##### ..... ##### ..... ..#..
..... ..#.. ..... ##### ..#.# .#... #.#.# ..... .#... ...#. #.#.# ..#.. ..... ..... ..... .#...
..... ..... ..... .#.#. ####. #..## #..#. ..... ..#.. ..#.. ..#.. ..#.. .##.. ..... .##.. #....
..... ..#.. ..... .#.#. ..#.. ...## .##.# ..... ...#. .#... ..... ..... ..#.. ..... .##.. .....
..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .#... ..... ..... .....
= 0     1     2     3     4     5     6     7     8     9     :     ;     <     =     >     ?
.###. ..#.. .###. ##### ...#. ##### ..##. ##### .###. .###. ..... ..... ...#. ..... .#... .###.
#...# .##.. #...# ...#. ..##. #.... .#... ....# #...# #...# .##.. .##.. ..#.. ..... ..#.. #...#
#..## ..#.. ....# ..#.. .#.#. ####. #.... ...#. #...# #...# .##.. .##.. .#... ##### ...#. ....#
#.#.# ..#.. ...#. ...#. #..#. ....# ####. ..#.. .###. .#### ..... ..... #.... ..... ....# ...#.
##..# ..#.. ..#.. ....# ##### ....# #...# .#... #...# ....# .##.. .##.. .#... ##### ...#. ..#..
#...# ..#.. .#... #...# ...#. #...# #...# .#... #...# ...#. .##.. ..#.. ..#.. ..... ..#.. .....
.###. .###. ##### .###. ...#. .###. .###. .#... .###. .##.. ..... .#... ...#. ..... .#... ..#..
..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....
= @     A     B     C     D     E     F     G     H     I     J     K     L     M     N     O
.###. .###. ####. .###. ###.. ##### ##### .###. #...# .###. ..### #...# #.... #...# #...# .###.
#...# #...# #...# #...# #..#. #.... #.... #...# #...# ..#.. ...#. #..#. #.... ##.## #...# #...#
....# #...# #...# #.... #...# #.... #.... #.... #...# ..#.. ...#. #.#.. #.... #.#.# ##..# #...#
.##.# ##### ####. #.... #...# ####. ####. #.### ##### ..#.. ...#. ##... #.... #.#.# #.#.# #...#
#.#.# #...# #...# #.... #...# #.... #.... #...# #...# ..#.. ...#. #.#.. #.... #...# #..## #...#
#.#.# #...# #...# #...# #..#. #.... #.... #...# #...# ..#.. #..#. #..#. #.... #...# #...# #...#
.###. #...# ####. .###. ###.. ##### #.... .#### #...# .###. .##.. #...# ##### #...# #...# .###.
..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....
= P     Q     R     S     T     U     V     W     X     Y     Z     [     \     ]     ^     _
####. .###. ####. .#### ##### #...# #...# #...# #...# #...# ##### .###. ..... .###. ..#.. .....
#...# #...# #...# #.... ..#.. #...# #...# #...# #...# #...# ....# .#... #.... ...#. .#.#. .....
#...# #...# #...# #.... ..#.. #...# #...# #...# .#.#. .#.#. ...#. .#... .#... ...#. #...# .....
####. #...# ####. .###. ..#.. #...# #...# #.#.# ..#.. ..#.. ..#.. .#... ..#.. ...#. ..... .....
#.... #.#.# #.#.. ....# ..#.. #...# #...# #.#.# .#.#. ..#.. .#... .#... ...#. ...#. ..... .....
#.... #..#. #..#. ....# ..#.. #...# .#.#. #.#.# #...# ..#.. #.... .#... ....# ...#. ..... .....
#.... .##.# #...# ####. ..#.. .###. ..#.. .#.#. #...# ..#.. ##### .###. ..... .###. ..... .....
..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... #####
= `     a     b     c     d     e     f     g     h     i     j     k     l     m     n     o
.#... ..... #.... ..... ....# ..... ..##. ..... #.... ..#.. ...#. #.... .##.. ..... ..... .....
..#.. ..... #.... ..... ....# ..... .#..# ..... #.... ..... ..... #.... ..#.. ..... ..... .....
...#. .###. #.##. .###. .##.# .###. .#... .#### #.##. .##.. ..##. #..#. ..#.. ##.#. #.##. .###.
..... ....# ##..# #.... #..## #...# ###.. #...# ##..# ..#.. ...#. #.#.. ..#.. #.#.# ##..# #...#
..... .#### #...# #.... #...# ##### .#... #...# #...# ..#.. ...#. ##... ..#.. #.#.# #...# #...#
..... #...# #...# #...# #...# #.... .#... .#### #...# ..#.. ...#. #.#.. ..#.. #...# #...# #...#
..... .#### ####. .###. .#### .###. .#... ....# #...# .###. #..#. #..#. .###. #...# #...# .###.
..... ..... ..... ..... ..... ..... ..... .###. ..... ..... .##.. ..... ..... ..... ..... .....
= p     q     r     s     t     u     v     w     x     y     z     {     |     }     ~
..... ..... ..... ..... .#... ..... ..... ..... ..... ..... ..... ...#. ..#.. .#... .....
..... ..... ..... ..... .#... ..... ..... ..... ..... ..... ..... ..#.. ..#.. ..#.. .....
####. .#### #.##. .###. ###.. #...# #...# #...# #...# #...# ##### ..#.. ..#.. ..#.. .#...
#...# #...# ##..# #.... .#... #...# #...# #...# .#.#. #...# ...#. .#... ..#.. ...#. #.#.#
#...# #...# #.... .###. .#... #...# #...# #.#.# ..#.. #...# ..#.. ..#.. ..#.. ..#.. ...#.
####. .#### #.... ....# .#..# #..## .#.#. #.#.# .#.#. .#### .#... ..#.. ..#.. ..#.. .....
#.... ....# #.... ####. ..##. .##.# ..#.. .#.#. #...# ....# ##### ...#. ..#.. .#... .....
#.... ....# ..... ..... ..... ..... ..... ..... ..... .###. ..... ..... ..... ..... .....
"##;

/// Latin-1 symbols and letters that are not an ASCII letter with an accent.
const EXTRA_CHARS: &str = "¡¢£¥§«¬°±µ·»¿ÆØ×ßæ÷ø";
const EXTRA_ART: &str = r##"
= ¡     ¢     £     ¥     §     «     ¬     °     ±     µ     ·     »     ¿     Æ     Ø     ×
..#.. ..#.. ..##. #...# .###. ..... ..... .##.. ..#.. ..... ..... ..... ..#.. .#### .###. .....
..... .###. .#..# .#.#. #.... ..#.# ..... #..#. ..#.. ..... ..... #.#.. ..... #.#.. #..## #...#
..#.. #.#.. .#... ##### .##.. .#.#. ##### #..#. ##### #...# ..... .#.#. ..#.. #.#.. #.#.# .#.#.
..#.. #.#.. ###.. ..#.. .#.#. #.#.. ....# .##.. ..#.. #...# .##.. ..#.# .#... ##### #.#.# ..#..
..#.. #.#.# .#... ##### ..##. .#.#. ....# ..... ..#.. #...# .##.. .#.#. #.... #.#.. #.#.# .#.#.
..#.. .###. .#..# ..#.. ....# ..#.# ..... ..... ..... ##..# ..... #.#.. #...# #.#.. ##..# #...#
..#.. ..#.. #.##. ..#.. .###. ..... ..... ..... ##### #.##. ..... ..... .###. #.### .###. .....
..... ..... ..... ..... ..... ..... ..... ..... ..... #.... ..... ..... ..... ..... ..... .....
= ß     æ     ÷     ø
.##.. ..... ..... .....
#..#. ..... ..#.. ....#
#..#. ##.#. ..... .###.
#.##. ..#.# ##### #..##
#...# .#### ..... #.#.#
#...# #.#.. ..#.. ##..#
#.##. .#.## ..... .###.
#.... ..... ..... #....
"##;

const ASCII: [Glyph; 95] = parse_art::<95>(ASCII_ART);
const EXTRA: [Glyph; 20] = parse_art::<20>(EXTRA_ART);

/// Drawn for characters the font has no glyph for: a hollow box.
const MISSING: Glyph = [0b11111, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b11111, 0];

/// Turns band-of-16 ASCII art into glyph bitmaps; a malformed drawing fails the build.
const fn parse_art<const N: usize>(art: &str) -> [Glyph; N] {
    let b = art.as_bytes();
    let mut out = [[0u8; 8]; N];
    let mut i = 0;
    let mut line = 0; // index of the glyph-row line (headers and blank lines not counted)
    let mut col = 0;
    let mut header = false;
    while i < b.len() {
        let c = b[i];
        i += 1;
        if c == b'\n' {
            if !header && col > 0 {
                line += 1;
            }
            col = 0;
            header = false;
            continue;
        }
        if col == 0 && c == b'=' {
            header = true;
        }
        if header {
            continue;
        }
        let glyph = (line / 8) * 16 + col / 6;
        let x = col % 6;
        if x == 5 {
            assert!(c == b' ', "font art: glyphs are separated by one space");
        } else {
            assert!(glyph < N, "font art: more glyphs than declared");
            if c == b'#' {
                out[glyph][line % 8] |= 0x10 >> x;
            } else {
                assert!(c == b'.', "font art: only '#' and '.' draw glyphs");
            }
        }
        col += 1;
    }
    if col > 0 {
        line += 1;
    }
    assert!(line == N.div_ceil(16) * 8, "font art: every band has 8 rows");
    out
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Accent {
    Grave,
    Acute,
    Circumflex,
    Tilde,
    Diaeresis,
    Ring,
    Cedilla,
}

/// Marks drawn in cell rows 0-1 (or 9-10 for the cedilla), same 5-bit layout as glyph rows.
fn accent_rows(a: Accent) -> [u8; 2] {
    match a {
        Accent::Grave => [0b01000, 0b00100],
        Accent::Acute => [0b00010, 0b00100],
        Accent::Circumflex => [0b00100, 0b01010],
        Accent::Tilde => [0b01101, 0b10110],
        Accent::Diaeresis => [0b00000, 0b01010],
        Accent::Ring => [0b01110, 0b01010],
        Accent::Cedilla => [0b00100, 0b01000],
    }
}

/// Latin-1 letters 0xC0..=0xFF as (base ASCII letter, accent); `None` when the letter is in
/// [`EXTRA_CHARS`] or has no ASCII base.
fn decompose(c: char) -> Option<(char, Accent)> {
    use Accent::*;
    let (base, accent) = match c {
        'À' => ('A', Grave),
        'Á' => ('A', Acute),
        'Â' => ('A', Circumflex),
        'Ã' => ('A', Tilde),
        'Ä' => ('A', Diaeresis),
        'Å' => ('A', Ring),
        'Ç' => ('C', Cedilla),
        'È' => ('E', Grave),
        'É' => ('E', Acute),
        'Ê' => ('E', Circumflex),
        'Ë' => ('E', Diaeresis),
        'Ì' => ('I', Grave),
        'Í' => ('I', Acute),
        'Î' => ('I', Circumflex),
        'Ï' => ('I', Diaeresis),
        'Ñ' => ('N', Tilde),
        'Ò' => ('O', Grave),
        'Ó' => ('O', Acute),
        'Ô' => ('O', Circumflex),
        'Õ' => ('O', Tilde),
        'Ö' => ('O', Diaeresis),
        'Ù' => ('U', Grave),
        'Ú' => ('U', Acute),
        'Û' => ('U', Circumflex),
        'Ü' => ('U', Diaeresis),
        'Ý' => ('Y', Acute),
        'à' => ('a', Grave),
        'á' => ('a', Acute),
        'â' => ('a', Circumflex),
        'ã' => ('a', Tilde),
        'ä' => ('a', Diaeresis),
        'å' => ('a', Ring),
        'ç' => ('c', Cedilla),
        'è' => ('e', Grave),
        'é' => ('e', Acute),
        'ê' => ('e', Circumflex),
        'ë' => ('e', Diaeresis),
        'ì' => ('i', Grave),
        'í' => ('i', Acute),
        'î' => ('i', Circumflex),
        'ï' => ('i', Diaeresis),
        'ñ' => ('n', Tilde),
        'ò' => ('o', Grave),
        'ó' => ('o', Acute),
        'ô' => ('o', Circumflex),
        'õ' => ('o', Tilde),
        'ö' => ('o', Diaeresis),
        'ù' => ('u', Grave),
        'ú' => ('u', Acute),
        'û' => ('u', Circumflex),
        'ü' => ('u', Diaeresis),
        'ý' => ('y', Acute),
        'ÿ' => ('y', Diaeresis),
        _ => return None,
    };
    Some((base, accent))
}

/// The bitmap of a character as 12 cell rows of 5 bits (cell row 0 at index 0).
pub(crate) fn cell_rows(c: char) -> [u8; CELL_H] {
    let mut rows = [0u8; CELL_H];
    let put = |rows: &mut [u8; CELL_H], g: &Glyph| {
        for (r, bits) in g.iter().enumerate() {
            rows[GLYPH_TOP + r] |= bits;
        }
    };
    let code = c as u32;
    if (0x20..0x7f).contains(&code) {
        put(&mut rows, &ASCII[(code - 0x20) as usize]);
    } else if code == 0xa0 {
        // no-break space: blank
    } else if let Some(i) = EXTRA_CHARS.chars().position(|e| e == c) {
        put(&mut rows, &EXTRA[i]);
    } else if let Some((base, accent)) = decompose(c) {
        let mut g = ASCII[(base as u32 - 0x20) as usize];
        if base == 'i' {
            g[0] = 0; // dotless under the accent
        }
        put(&mut rows, &g);
        let marks = accent_rows(accent);
        let at = if accent == Accent::Cedilla { GLYPH_TOP + 7 } else { 0 };
        rows[at] |= marks[0];
        rows[at + 1] |= marks[1];
    } else {
        put(&mut rows, &MISSING);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_printable_ascii_glyph_but_space_has_ink_and_they_differ() {
        for (i, g) in ASCII.iter().enumerate() {
            let c = char::from(0x20 + i as u8);
            assert_eq!(g.iter().any(|r| *r != 0), c != ' ', "glyph {c:?}");
            for (j, h) in ASCII.iter().enumerate().skip(i + 1) {
                assert_ne!(g, h, "glyphs {c:?} and {:?} are identical", char::from(0x20 + j as u8));
            }
        }
    }

    #[test]
    fn spot_check_glyph_bits() {
        // 'A' row 3 is the crossbar, 'g' row 7 is its descender tail.
        assert_eq!(ASCII[(b'A' - 0x20) as usize][3], 0b11111);
        assert_eq!(ASCII[(b'A' - 0x20) as usize][0], 0b01110);
        assert_eq!(ASCII[(b'g' - 0x20) as usize][7], 0b01110);
        assert_eq!(EXTRA_CHARS.chars().count(), EXTRA.len());
    }

    #[test]
    fn latin1_letters_get_accents_and_unknowns_a_box() {
        let e = cell_rows('e');
        let e_acute = cell_rows('é');
        assert_eq!(&e[GLYPH_TOP..], &e_acute[GLYPH_TOP..]);
        assert_eq!(e_acute[..GLYPH_TOP], accent_rows(Accent::Acute));
        let c_cedilla = cell_rows('Ç');
        assert_ne!(c_cedilla[GLYPH_TOP + 7], 0);
        assert_eq!(cell_rows('\u{2603}')[GLYPH_TOP..GLYPH_TOP + 8], MISSING);
        assert_eq!(cell_rows('Þ')[GLYPH_TOP..GLYPH_TOP + 8], MISSING);
        assert!(cell_rows('ß').iter().any(|r| *r != 0));
        assert!(cell_rows('\u{a0}').iter().all(|r| *r == 0));
    }
}
