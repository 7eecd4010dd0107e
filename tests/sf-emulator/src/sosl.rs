//! A SOSL subset:
//!
//! ```text
//! FIND {term} [IN (ALL | NAME | PHONE | EMAIL) FIELDS]
//!      [RETURNING Object [(field, field [LIMIT n])] (, Object [(...)])*] [LIMIT n]
//! ```
//!
//! The term sits in braces (`\{`, `\}`, `\\` escape them) or, Apex style, in single quotes; `*` matches
//! any run of characters and `?` exactly one.

use crate::soql::{self, Parser, Path, SyntaxError, Tok};

/// Which fields a search looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    Name,
    Phone,
    Email,
}

/// One `RETURNING` item.
#[derive(Debug, Clone, PartialEq)]
pub struct Returning {
    pub object: String,
    /// Empty: only `Id`.
    pub fields: Vec<Path>,
    pub limit: Option<usize>,
}

/// A parsed search.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    pub term: String,
    pub scope: Scope,
    /// Empty when there is no RETURNING clause.
    pub returning: Vec<Returning>,
    pub limit: Option<usize>,
}

fn err(message: impl Into<String>, at: usize) -> SyntaxError {
    SyntaxError { message: message.into(), column: at + 1 }
}

/// Parses a SOSL search.
pub fn parse(text: &str) -> Result<Search, SyntaxError> {
    let trimmed_start = text.len() - text.trim_start().len();
    let rest = &text[trimmed_start..];
    if !rest.get(..4).is_some_and(|w| w.eq_ignore_ascii_case("FIND")) {
        return Err(err("unexpected token (expecting 'FIND')", trimmed_start));
    }
    let after_find = trimmed_start + 4;
    let body = &text[after_find..];
    let open_at = after_find + (body.len() - body.trim_start().len());
    let close = match text[open_at..].chars().next() {
        Some('{') => '}',
        Some('\'') => '\'',
        _ => {
            return Err(err("the search term must be enclosed in braces, e.g. FIND {Acme}", open_at));
        }
    };
    let mut term = String::new();
    let mut end = None;
    let mut chars = text[open_at + 1..].char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some((_, e)) => term.push(e),
                None => break,
            }
        } else if c == close {
            end = Some(open_at + 1 + i + c.len_utf8());
            break;
        } else {
            term.push(c);
        }
    }
    let end = end.ok_or_else(|| err("the search term is not closed", open_at))?;
    if term.trim().is_empty() {
        return Err(err("search term must not be empty", open_at));
    }
    let core = term.chars().filter(|c| !c.is_whitespace() && *c != '*' && *c != '?').count();
    if core < 2 {
        return Err(err("search term must be longer than one character", open_at));
    }
    // Tokenize the rest with the SOQL tokenizer, keeping columns relative to the whole text.
    let mut tokens = soql::tokenize(&text[end..])?;
    for token in tokens.iter_mut() {
        token.at += end;
    }
    let mut p = Parser::new(tokens);
    let mut scope = Scope::All;
    if p.keyword("IN") {
        scope = if p.keyword("ALL") {
            Scope::All
        } else if p.keyword("NAME") {
            Scope::Name
        } else if p.keyword("PHONE") {
            Scope::Phone
        } else if p.keyword("EMAIL") {
            Scope::Email
        } else {
            return Err(p.unexpected());
        };
        p.expect_keyword("FIELDS")?;
    }
    let mut returning = Vec::new();
    if p.keyword("RETURNING") {
        loop {
            let object = p.name()?;
            let mut fields = Vec::new();
            let mut limit = None;
            if p.peek().kind == Tok::LParen {
                p.next();
                loop {
                    if p.is_keyword("LIMIT") {
                        break;
                    }
                    fields.push(p.path()?);
                    if p.peek().kind == Tok::Comma {
                        p.next();
                    } else {
                        break;
                    }
                }
                if p.keyword("LIMIT") {
                    limit = Some(p.integer()?);
                }
                p.expect(&Tok::RParen)?;
            }
            returning.push(Returning { object, fields, limit });
            if p.peek().kind == Tok::Comma {
                p.next();
            } else {
                break;
            }
        }
    }
    let limit = if p.keyword("LIMIT") { Some(p.integer()?) } else { None };
    if !p.at_eof() {
        return Err(p.unexpected());
    }
    Ok(Search { term: term.trim().to_owned(), scope, returning, limit })
}

/// True when `value` contains the term (case-insensitive; `*` any run, `?` one character).
pub fn matches_text(value: &str, term: &str) -> bool {
    let mut pattern = String::from("%");
    for c in term.chars() {
        match c {
            '*' => pattern.push('%'),
            '?' => pattern.push('_'),
            '%' | '_' | '\\' => {
                pattern.push('\\');
                pattern.push(c);
            }
            c => pattern.push(c),
        }
    }
    pattern.push('%');
    soql::like(value, &pattern)
}

/// Phone comparison: digits only; true when the field's digits contain the term's digits.
pub fn matches_phone(value: &str, term: &str) -> bool {
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    let (v, t) = (digits(value), digits(term));
    !t.is_empty() && v.contains(&t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_official_search() {
        let s = parse("Find {Marc} In All Fields Returning Contact(FirstName)").expect("parse");
        assert_eq!(s.term, "Marc");
        assert_eq!(s.scope, Scope::All);
        assert_eq!(
            s.returning,
            vec![Returning { object: "Contact".into(), fields: vec![vec!["FirstName".into()]], limit: None }]
        );
        let s = parse(
            "FIND {+1 (415) 555*} IN PHONE FIELDS RETURNING Contact(Id, Name, Account.Name LIMIT 2), Account LIMIT 10",
        )
        .expect("parse");
        assert_eq!(s.term, "+1 (415) 555*");
        assert_eq!(s.scope, Scope::Phone);
        assert_eq!(s.returning.len(), 2);
        assert_eq!(s.returning[0].limit, Some(2));
        assert!(s.returning[1].fields.is_empty());
        assert_eq!(s.limit, Some(10));
        let s = parse(r"FIND {a\}b} IN NAME FIELDS").expect("escaped brace");
        assert_eq!((s.term.as_str(), s.scope), ("a}b", Scope::Name));
        assert_eq!(parse("FIND 'acme' IN EMAIL FIELDS").expect("quote").scope, Scope::Email);
    }

    #[test]
    fn malformed_searches() {
        for (text, needle) in [
            ("SEARCH {x}", "expecting 'FIND'"),
            ("FIND Acme", "enclosed in braces"),
            ("FIND {Acme", "not closed"),
            ("FIND {} RETURNING Account", "must not be empty"),
            ("FIND {Acme} IN EVERY FIELDS", "unexpected token: 'EVERY'"),
            ("FIND {Acme} RETURNING Account(Name", "expecting ')'"),
            ("FIND {Acme} RETURNING", "unexpected token: '<EOF>'"),
            ("FIND {Acme} LIMIT x", "unexpected token: 'x'"),
        ] {
            let e = parse(text).expect_err(text);
            assert!(e.message.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn term_matching() {
        assert!(matches_text("Marc Benioff", "marc"));
        assert!(matches_text("Marc Benioff", "ben*f"));
        assert!(matches_text("Marc", "M?rc"));
        assert!(!matches_text("Marc", "Mark"));
        assert!(matches_text("100%", "100%"));
        assert!(matches_phone("+1 (415) 555-0100", "4155550100"));
        assert!(matches_phone("+14155550100", "(415) 555"));
        assert!(!matches_phone("+14155550100", "999"));
        assert!(!matches_phone("+14155550100", "abc"));
    }
}
