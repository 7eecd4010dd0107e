//! A SOQL subset: tokenizer and recursive-descent parser.
//!
//! ```text
//! query     := SELECT select FROM name [WHERE cond] [ORDER BY order (, order)*] [LIMIT int] [OFFSET int]
//! select    := COUNT ( ) | path (, path)*
//! path      := name (. name)*
//! cond      := term ((AND term)* | (OR term)*)      -- mixing AND and OR needs parentheses, as in SOQL
//! term      := NOT term | ( cond ) | path op value | path [NOT] IN ( value (, value)* ) | path LIKE string
//!            | path [NOT] IN ( SELECT name FROM name [WHERE cond] )      -- semi-join / anti-join
//! op        := = | != | <> | < | <= | > | >=
//! value     := string | number | true | false | null | date | datetime | TODAY | YESTERDAY | TOMORROW
//!            | LAST_N_DAYS:n | NEXT_N_DAYS:n | N_DAYS_AGO:n | LAST_N_HOURS:n
//! order     := path [ASC | DESC] [NULLS (FIRST | LAST)]
//! ```
//!
//! String literals use Salesforce's escapes (`\'`, `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`, `\_`, `\%`);
//! a quote can only end a literal when unescaped, so `'x\' OR Name != \''` is one literal.
//!
//! Semi-join and anti-join sub-queries follow SOQL's restrictions (SOQL and SOSL Reference, semi-joins with
//! IN and anti-joins with NOT IN): one selected field, no relationship traversal in it, no COUNT / ORDER BY /
//! LIMIT / OFFSET, not nested, not under OR or NOT, at most two per query. A path may start with the queried
//! object's own name (`ContactCenterChannel.ContactCenter.InternalName` in `FROM ContactCenterChannel`).

use chrono::{DateTime, NaiveDate, Utc};

/// A parse error: message and 1-based column.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} at Row:1:Column:{column}")]
pub struct SyntaxError {
    pub message: String,
    pub column: usize,
}

/// A token with its byte offset.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub kind: Tok,
    pub at: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Ident(String),
    Str(StrLit),
    Num(f64, String),
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
    Op(&'static str),
    Comma,
    Dot,
    Colon,
    LParen,
    RParen,
    Eof,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => s.clone(),
            Tok::Str(s) => format!("'{}'", s.value),
            Tok::Num(_, text) => text.clone(),
            Tok::Date(d) => d.to_string(),
            Tok::DateTime(d) => d.to_rfc3339(),
            Tok::Op(op) => (*op).to_owned(),
            Tok::Comma => ",".into(),
            Tok::Dot => ".".into(),
            Tok::Colon => ":".into(),
            Tok::LParen => "(".into(),
            Tok::RParen => ")".into(),
            Tok::Eof => "<EOF>".into(),
        }
    }
}

/// A string literal: its value, and the LIKE pattern form in which escaped `_`, `%` and `\` stay
/// escaped (`\_`, `\%`, `\\`) so that they match literally.
#[derive(Debug, Clone, PartialEq)]
pub struct StrLit {
    pub value: String,
    pub pattern: String,
}

fn err(message: impl Into<String>, at: usize) -> SyntaxError {
    SyntaxError { message: message.into(), column: at + 1 }
}

/// Splits a SOQL (or SOSL) text into tokens.
pub fn tokenize(text: &str) -> Result<Vec<Token>, SyntaxError> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let single = match c {
            ',' => Some(Tok::Comma),
            '.' => Some(Tok::Dot),
            ':' => Some(Tok::Colon),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            _ => None,
        };
        if let Some(kind) = single {
            tokens.push(Token { kind, at });
            i += 1;
            continue;
        }
        let next = chars.get(i + 1).map(|(_, c)| *c);
        match c {
            '=' => {
                tokens.push(Token { kind: Tok::Op("="), at });
                i += 1;
            }
            '!' if next == Some('=') => {
                tokens.push(Token { kind: Tok::Op("!="), at });
                i += 2;
            }
            '<' => {
                let (op, len) = match next {
                    Some('=') => ("<=", 2),
                    Some('>') => ("!=", 2),
                    _ => ("<", 1),
                };
                tokens.push(Token { kind: Tok::Op(op), at });
                i += len;
            }
            '>' => {
                let (op, len) = if next == Some('=') { (">=", 2) } else { (">", 1) };
                tokens.push(Token { kind: Tok::Op(op), at });
                i += len;
            }
            '\'' => {
                let (lit, end) = string_literal(&chars, i)?;
                tokens.push(Token { kind: Tok::Str(lit), at });
                i = end;
            }
            c if c.is_ascii_digit() || (c == '-' && next.is_some_and(|n| n.is_ascii_digit())) => {
                let (kind, end) = number_or_date(text, &chars, i)?;
                tokens.push(Token { kind, at });
                i = end;
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].1.is_alphanumeric() || chars[i].1 == '_') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().map(|(_, c)| *c).collect();
                tokens.push(Token { kind: Tok::Ident(word), at });
            }
            other => return Err(err(format!("unexpected character: '{other}'"), at)),
        }
    }
    tokens.push(Token { kind: Tok::Eof, at: text.len() });
    Ok(tokens)
}

fn string_literal(chars: &[(usize, char)], start: usize) -> Result<(StrLit, usize), SyntaxError> {
    let mut value = String::new();
    let mut pattern = String::new();
    let mut i = start + 1;
    loop {
        let Some(&(at, c)) = chars.get(i) else {
            return Err(err("unterminated string literal (missing closing quote)", chars[start].0));
        };
        match c {
            '\'' => return Ok((StrLit { value, pattern }, i + 1)),
            '\\' => {
                let Some(&(_, e)) = chars.get(i + 1) else {
                    return Err(err("unterminated escape sequence in string literal", at));
                };
                let (plain, pat): (char, &str) = match e {
                    '\'' => ('\'', "'"),
                    '"' => ('"', "\""),
                    '\\' => ('\\', "\\\\"),
                    'n' => ('\n', "\n"),
                    'r' => ('\r', "\r"),
                    't' => ('\t', "\t"),
                    'b' => ('\u{8}', "\u{8}"),
                    'f' => ('\u{c}', "\u{c}"),
                    '_' => ('_', "\\_"),
                    '%' => ('%', "\\%"),
                    other => {
                        return Err(err(format!("Invalid string literal: illegal escape sequence '\\{other}'"), at));
                    }
                };
                value.push(plain);
                pattern.push_str(pat);
                i += 2;
            }
            other => {
                value.push(other);
                pattern.push(other);
                i += 1;
            }
        }
    }
}

fn number_or_date(text: &str, chars: &[(usize, char)], start: usize) -> Result<(Tok, usize), SyntaxError> {
    let mut i = start;
    let at = chars[start].0;
    // Date / datetime literal: YYYY-MM-DD[THH:MM:SS[.sss](Z|±HH:MM)]
    let is_date_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | ':' | '.' | '+');
    if chars[start].1 != '-' {
        let mut j = start;
        while j < chars.len() && chars[j].1.is_ascii_digit() {
            j += 1;
        }
        if j - start == 4 && chars.get(j).is_some_and(|(_, c)| *c == '-') {
            let mut end = j;
            while end < chars.len() && is_date_char(chars[end].1) {
                end += 1;
            }
            let stop = chars.get(end).map_or(text.len(), |(b, _)| *b);
            let word = &text[at..stop];
            if word.contains('T') {
                let parsed = DateTime::parse_from_rfc3339(word)
                    .map_err(|_| err(format!("invalid datetime literal: '{word}'"), at))?;
                return Ok((Tok::DateTime(parsed.with_timezone(&Utc)), end));
            }
            let date = NaiveDate::parse_from_str(word, "%Y-%m-%d")
                .map_err(|_| err(format!("invalid date literal: '{word}'"), at))?;
            return Ok((Tok::Date(date), end));
        }
    }
    if chars[i].1 == '-' {
        i += 1;
    }
    while i < chars.len() && (chars[i].1.is_ascii_digit() || chars[i].1 == '.') {
        // A dot must be followed by a digit to be part of the number.
        if chars[i].1 == '.' && !chars.get(i + 1).is_some_and(|(_, c)| c.is_ascii_digit()) {
            break;
        }
        i += 1;
    }
    let stop = chars.get(i).map_or(text.len(), |(b, _)| *b);
    let word = &text[at..stop];
    let value: f64 = word.parse().map_err(|_| err(format!("invalid number: '{word}'"), at))?;
    Ok((Tok::Num(value, word.to_owned()), i))
}

/// A relationship path `Account.Name` (one segment for a plain field).
pub type Path = Vec<String>;

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(StrLit),
    Num(f64),
    Bool(bool),
    Null,
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
    /// `TODAY`, `LAST_N_DAYS:2`, ...: name (upper case) and N.
    DateFn(String, Option<i64>),
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A WHERE condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Cmp(Path, CmpOp, Literal),
    Like(Path, StrLit),
    In(Path, Vec<Literal>, bool),
    /// `path [NOT] IN (SELECT field FROM object [WHERE ...])`: the sub-query and whether negated.
    InQuery(Path, Box<Query>, bool),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
}

/// One ORDER BY item.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    pub path: Path,
    pub descending: bool,
    /// Explicit NULLS FIRST (true) / NULLS LAST (false); default: first for ASC, last for DESC.
    pub nulls_first: Option<bool>,
}

impl OrderBy {
    /// Where nulls sort, with the SOQL default.
    pub fn nulls_first(&self) -> bool {
        self.nulls_first.unwrap_or(!self.descending)
    }
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Empty for `COUNT()`.
    pub fields: Vec<Path>,
    pub count: bool,
    pub object: String,
    pub filter: Option<Cond>,
    pub order_by: Vec<OrderBy>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

/// Date functions accepted as values (`LAST_N_DAYS` & co. take `:n`).
pub const DATE_FUNCTIONS: &[&str] = &["TODAY", "YESTERDAY", "TOMORROW"];
pub const DATE_FUNCTIONS_N: &[&str] = &["LAST_N_DAYS", "NEXT_N_DAYS", "N_DAYS_AGO", "LAST_N_HOURS"];

const RESERVED: &[&str] = &[
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "LIMIT", "OFFSET", "ASC", "DESC",
    "NULLS", "FIRST", "LAST", "NULL", "TRUE", "FALSE", "GROUP", "HAVING",
];

/// A cursor over tokens, shared with the SOSL parser.
pub struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// Semi-join / anti-join sub-queries seen so far.
    semi_joins: usize,
}

/// "No more than two IN or NOT IN statements per WHERE clause" (semi-join restrictions).
pub const MAX_SEMI_JOINS: usize = 2;

impl Parser {
    pub fn new(tokens: Vec<Token>) -> Parser {
        Parser { tokens, pos: 0, semi_joins: 0 }
    }

    pub fn peek(&self) -> &Token {
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    #[allow(clippy::should_implement_trait)] // a cursor that stays on the end token, not an iterator
    pub fn next(&mut self) -> Token {
        let token = self.peek().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        token
    }

    /// "unexpected token: 'X'" at the current token.
    pub fn unexpected(&self) -> SyntaxError {
        let token = self.peek();
        err(format!("unexpected token: '{}'", token.kind.describe()), token.at)
    }

    /// True (and consumed) when the next token is this keyword.
    pub fn keyword(&mut self, word: &str) -> bool {
        if matches!(&self.peek().kind, Tok::Ident(w) if w.eq_ignore_ascii_case(word)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub fn is_keyword(&self, word: &str) -> bool {
        matches!(&self.peek().kind, Tok::Ident(w) if w.eq_ignore_ascii_case(word))
    }

    pub fn expect_keyword(&mut self, word: &str) -> Result<(), SyntaxError> {
        if self.keyword(word) {
            Ok(())
        } else {
            let token = self.peek();
            Err(err(format!("unexpected token: '{}' (expecting '{word}')", token.kind.describe()), token.at))
        }
    }

    pub fn expect(&mut self, kind: &Tok) -> Result<(), SyntaxError> {
        if &self.peek().kind == kind {
            self.next();
            Ok(())
        } else {
            let token = self.peek();
            Err(err(
                format!("unexpected token: '{}' (expecting '{}')", token.kind.describe(), kind.describe()),
                token.at,
            ))
        }
    }

    /// A name that is not a reserved word.
    pub fn name(&mut self) -> Result<String, SyntaxError> {
        match &self.peek().kind {
            Tok::Ident(w) if !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(w)) => {
                let w = w.clone();
                self.next();
                Ok(w)
            }
            _ => Err(self.unexpected()),
        }
    }

    pub fn path(&mut self) -> Result<Path, SyntaxError> {
        let mut path = vec![self.name()?];
        while self.peek().kind == Tok::Dot {
            self.next();
            path.push(self.name()?);
        }
        Ok(path)
    }

    /// A non-negative integer (LIMIT, OFFSET).
    pub fn integer(&mut self) -> Result<usize, SyntaxError> {
        match self.peek().kind {
            Tok::Num(n, _) if n >= 0.0 && n.fract() == 0.0 => {
                self.next();
                Ok(n as usize)
            }
            _ => Err(self.unexpected()),
        }
    }

    pub fn at_eof(&self) -> bool {
        self.peek().kind == Tok::Eof
    }
}

/// Parses a SOQL query.
pub fn parse(text: &str) -> Result<Query, SyntaxError> {
    let mut p = Parser::new(tokenize(text)?);
    let query = query(&mut p)?;
    if !p.at_eof() {
        return Err(p.unexpected());
    }
    Ok(query)
}

/// True when the condition holds a semi-join or anti-join sub-query.
pub fn has_semi_join(cond: &Cond) -> bool {
    match cond {
        Cond::InQuery(..) => true,
        Cond::And(items) | Cond::Or(items) => items.iter().any(has_semi_join),
        Cond::Not(inner) => has_semi_join(inner),
        _ => false,
    }
}

/// A query up to its end (end of text, or the `)` closing a sub-query).
fn query(p: &mut Parser) -> Result<Query, SyntaxError> {
    p.expect_keyword("SELECT")?;
    let mut fields = Vec::new();
    let mut count = false;
    if p.is_keyword("COUNT") && p.tokens.get(p.pos + 1).map(|t| &t.kind) == Some(&Tok::LParen) {
        p.next();
        p.expect(&Tok::LParen)?;
        p.expect(&Tok::RParen)?;
        count = true;
    } else {
        loop {
            if p.peek().kind == Tok::LParen {
                let at = p.peek().at;
                return Err(err("sub-queries are not supported by the emulator", at));
            }
            let path = p.path()?;
            if p.peek().kind == Tok::LParen {
                let at = p.peek().at;
                return Err(err(
                    format!("aggregate function '{}' is not supported by the emulator (only COUNT())", path.join(".")),
                    at,
                ));
            }
            fields.push(path);
            if p.peek().kind == Tok::Comma {
                p.next();
            } else {
                break;
            }
        }
    }
    p.expect_keyword("FROM")?;
    let object = p.name()?;
    let filter = if p.keyword("WHERE") { Some(condition(p)?) } else { None };
    let mut order_by = Vec::new();
    if p.keyword("ORDER") {
        p.expect_keyword("BY")?;
        loop {
            let path = p.path()?;
            let descending = if p.keyword("DESC") {
                true
            } else {
                p.keyword("ASC");
                false
            };
            let nulls_first = if p.keyword("NULLS") {
                if p.keyword("FIRST") {
                    Some(true)
                } else if p.keyword("LAST") {
                    Some(false)
                } else {
                    return Err(p.unexpected());
                }
            } else {
                None
            };
            order_by.push(OrderBy { path, descending, nulls_first });
            if p.peek().kind == Tok::Comma {
                p.next();
            } else {
                break;
            }
        }
    }
    let limit = if p.keyword("LIMIT") { Some(p.integer()?) } else { None };
    let offset = if p.keyword("OFFSET") { Some(p.integer()?) } else { None };
    Ok(Query { fields, count, object, filter, order_by, limit, offset })
}

/// `IN ( SELECT ... )` after the opening parenthesis: parses and checks the semi-join restrictions.
fn semi_join(p: &mut Parser) -> Result<Query, SyntaxError> {
    let at = p.peek().at;
    p.semi_joins += 1;
    if p.semi_joins > MAX_SEMI_JOINS {
        return Err(err(format!("at most {MAX_SEMI_JOINS} semi-join or anti-join sub-queries are allowed"), at));
    }
    let sub = query(p)?;
    let problem = if sub.count {
        Some("COUNT() is not allowed in a semi-join sub-query".to_owned())
    } else if sub.fields.len() != 1 {
        Some(format!("a semi-join sub-query must select exactly one field, not {}", sub.fields.len()))
    } else if sub.fields[0].len() > 2
        || (sub.fields[0].len() == 2 && !sub.fields[0][0].eq_ignore_ascii_case(&sub.object))
    {
        Some(format!(
            "the field selected by a semi-join sub-query cannot traverse a relationship: '{}'",
            sub.fields[0].join(".")
        ))
    } else if !sub.order_by.is_empty() || sub.limit.is_some() || sub.offset.is_some() {
        Some("ORDER BY, LIMIT and OFFSET are not allowed in a semi-join sub-query".to_owned())
    } else if sub.filter.as_ref().is_some_and(has_semi_join) {
        Some("semi-join sub-queries cannot be nested".to_owned())
    } else {
        None
    };
    match problem {
        Some(message) => Err(err(message, at)),
        None => Ok(sub),
    }
}

fn condition(p: &mut Parser) -> Result<Cond, SyntaxError> {
    let first = term(p)?;
    let mut items = vec![first];
    let mut joiner: Option<&'static str> = None;
    loop {
        let word = if p.is_keyword("AND") {
            "AND"
        } else if p.is_keyword("OR") {
            "OR"
        } else {
            break;
        };
        if word == "OR" && items.iter().any(has_semi_join) {
            let token = p.peek();
            return Err(err("semi-join and anti-join sub-queries cannot be used with OR", token.at));
        }
        if joiner.is_some_and(|j| j != word) {
            let token = p.peek();
            return Err(err(
                format!("unexpected token: '{}' (use parentheses when mixing AND and OR)", token.kind.describe()),
                token.at,
            ));
        }
        joiner = Some(word);
        let at = p.peek().at;
        p.next();
        items.push(term(p)?);
        if word == "OR" && items.last().is_some_and(has_semi_join) {
            return Err(err("semi-join and anti-join sub-queries cannot be used with OR", at));
        }
    }
    Ok(match (joiner, items.len()) {
        (_, 1) => items.pop().unwrap_or(Cond::And(Vec::new())),
        (Some("OR"), _) => Cond::Or(items),
        _ => Cond::And(items),
    })
}

fn term(p: &mut Parser) -> Result<Cond, SyntaxError> {
    if p.is_keyword("NOT") {
        let at = p.peek().at;
        p.next();
        let inner = term(p)?;
        if has_semi_join(&inner) {
            return Err(err("NOT cannot apply to a semi-join sub-query: use NOT IN", at));
        }
        return Ok(Cond::Not(Box::new(inner)));
    }
    if p.peek().kind == Tok::LParen {
        p.next();
        let inner = condition(p)?;
        p.expect(&Tok::RParen)?;
        return Ok(inner);
    }
    let path = p.path()?;
    if let Tok::Op(op) = p.peek().kind {
        p.next();
        let op = match op {
            "=" => CmpOp::Eq,
            "!=" => CmpOp::Ne,
            "<" => CmpOp::Lt,
            "<=" => CmpOp::Le,
            ">" => CmpOp::Gt,
            _ => CmpOp::Ge,
        };
        return Ok(Cond::Cmp(path, op, value(p)?));
    }
    if p.keyword("LIKE") {
        return match p.peek().kind.clone() {
            Tok::Str(s) => {
                p.next();
                Ok(Cond::Like(path, s))
            }
            _ => Err(p.unexpected()),
        };
    }
    let negated = p.keyword("NOT");
    if p.keyword("IN") {
        p.expect(&Tok::LParen)?;
        if p.is_keyword("SELECT") {
            let sub = semi_join(p)?;
            p.expect(&Tok::RParen)?;
            return Ok(Cond::InQuery(path, Box::new(sub), negated));
        }
        let mut values = vec![value(p)?];
        while p.peek().kind == Tok::Comma {
            p.next();
            values.push(value(p)?);
        }
        p.expect(&Tok::RParen)?;
        return Ok(Cond::In(path, values, negated));
    }
    Err(p.unexpected())
}

fn value(p: &mut Parser) -> Result<Literal, SyntaxError> {
    let literal = match &p.peek().kind {
        Tok::Str(s) => Literal::Str(s.clone()),
        Tok::Num(n, _) => Literal::Num(*n),
        Tok::Date(d) => Literal::Date(*d),
        Tok::DateTime(d) => Literal::DateTime(*d),
        Tok::Ident(word) => {
            let upper = word.to_ascii_uppercase();
            match upper.as_str() {
                "NULL" => Literal::Null,
                "TRUE" => Literal::Bool(true),
                "FALSE" => Literal::Bool(false),
                w if DATE_FUNCTIONS.contains(&w) => Literal::DateFn(upper, None),
                w if DATE_FUNCTIONS_N.contains(&w) => {
                    p.next();
                    p.expect(&Tok::Colon)?;
                    return match p.peek().kind {
                        Tok::Num(n, _) if n >= 0.0 && n.fract() == 0.0 => {
                            p.next();
                            Ok(Literal::DateFn(upper, Some(n as i64)))
                        }
                        _ => Err(p.unexpected()),
                    };
                }
                _ => return Err(p.unexpected()),
            }
        }
        _ => return Err(p.unexpected()),
    };
    p.next();
    Ok(literal)
}

/// Matches a LIKE pattern (`%` any run, `_` one character, `\x` a literal x), case-insensitively.
pub fn like(value: &str, pattern: &str) -> bool {
    #[derive(Clone, Copy)]
    enum P {
        Any,
        One,
        Char(char),
    }
    let mut pat = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        pat.push(match c {
            '%' => P::Any,
            '_' => P::One,
            '\\' => P::Char(chars.next().unwrap_or('\\')),
            c => P::Char(c),
        });
    }
    let text: Vec<char> = value.to_lowercase().chars().collect();
    let pat: Vec<P> = pat
        .into_iter()
        .map(|p| match p {
            P::Char(c) => P::Char(c.to_lowercase().next().unwrap_or(c)),
            other => other,
        })
        .collect();
    // Classic wildcard matching with backtracking on the last '%'.
    let (mut t, mut q) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pat.get(q) {
            Some(P::One) => {
                t += 1;
                q += 1;
            }
            Some(P::Char(c)) if *c == text[t] => {
                t += 1;
                q += 1;
            }
            Some(P::Any) => {
                star = Some((q, t));
                q += 1;
            }
            _ => match star {
                Some((sq, st)) => {
                    q = sq + 1;
                    t = st + 1;
                    star = Some((sq, st + 1));
                }
                None => return false,
            },
        }
    }
    pat[q..].iter().all(|p| matches!(p, P::Any))
}

/// The instant range `[start, end)` a date literal or date function covers, relative to `now` (UTC).
pub fn date_range(literal: &Literal, now: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let day = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    let today = now.date_naive();
    let days = chrono::Duration::days;
    match literal {
        Literal::Date(d) => Some((day(*d)?, day(*d)? + days(1))),
        Literal::DateTime(t) => Some((*t, *t + chrono::Duration::milliseconds(1))),
        Literal::DateFn(name, n) => {
            let n = n.unwrap_or(0);
            let start_today = day(today)?;
            Some(match name.as_str() {
                "TODAY" => (start_today, start_today + days(1)),
                "YESTERDAY" => (start_today - days(1), start_today),
                "TOMORROW" => (start_today + days(1), start_today + days(2)),
                // "Starts 00:00:00 of the current day and continues for the past n days."
                "LAST_N_DAYS" => (start_today - days(n), start_today + days(1)),
                "NEXT_N_DAYS" => (start_today + days(1), start_today + days(n + 1)),
                "N_DAYS_AGO" => (start_today - days(n), start_today - days(n - 1)),
                "LAST_N_HOURS" => (now - chrono::Duration::hours(n), now + chrono::Duration::milliseconds(1)),
                _ => return None,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(value: &str) -> Literal {
        Literal::Str(StrLit { value: value.into(), pattern: value.into() })
    }

    fn path(p: &str) -> Path {
        p.split('.').map(str::to_owned).collect()
    }

    fn filter(q: &str) -> Cond {
        parse(q).expect("parse").filter.expect("where")
    }

    #[test]
    fn select_list_order_limit_offset() {
        let q =
            parse("select Id, name, Account.Name FROM Contact ORDER BY Name DESC NULLS FIRST, Id LIMIT 10 OFFSET 5")
                .expect("parse");
        assert_eq!(q.fields, vec![path("Id"), path("name"), path("Account.Name")]);
        assert_eq!(q.object, "Contact");
        assert!(!q.count);
        assert_eq!(q.order_by.len(), 2);
        assert!(q.order_by[0].descending && q.order_by[0].nulls_first());
        assert!(!q.order_by[1].descending && q.order_by[1].nulls_first());
        assert_eq!((q.limit, q.offset), (Some(10), Some(5)));
        let count = parse("SELECT COUNT() FROM Account").expect("count");
        assert!(count.count && count.fields.is_empty());
    }

    #[test]
    fn every_operator() {
        let ops = [
            ("=", CmpOp::Eq),
            ("!=", CmpOp::Ne),
            ("<>", CmpOp::Ne),
            ("<", CmpOp::Lt),
            ("<=", CmpOp::Le),
            (">", CmpOp::Gt),
            (">=", CmpOp::Ge),
        ];
        for (text, op) in ops {
            assert_eq!(
                filter(&format!("SELECT Id FROM Account WHERE NumberOfEmployees {text} 5")),
                Cond::Cmp(path("NumberOfEmployees"), op, Literal::Num(5.0)),
                "{text}"
            );
        }
        assert_eq!(
            filter("SELECT Id FROM Account WHERE Name LIKE 'Ac%'"),
            Cond::Like(path("Name"), StrLit { value: "Ac%".into(), pattern: "Ac%".into() })
        );
        assert_eq!(
            filter("SELECT Id FROM Account WHERE Name IN ('a', 'b')"),
            Cond::In(path("Name"), vec![s("a"), s("b")], false)
        );
        assert_eq!(
            filter("SELECT Id FROM Account WHERE Name NOT IN ('a')"),
            Cond::In(path("Name"), vec![s("a")], true)
        );
        assert_eq!(
            filter("SELECT Id FROM Case WHERE IsClosed = false AND Subject != null"),
            Cond::And(vec![
                Cond::Cmp(path("IsClosed"), CmpOp::Eq, Literal::Bool(false)),
                Cond::Cmp(path("Subject"), CmpOp::Ne, Literal::Null),
            ])
        );
        assert_eq!(
            filter("SELECT Id FROM Case WHERE NOT (Status = 'New' OR Status = 'Closed') AND IsClosed = TRUE"),
            Cond::And(vec![
                Cond::Not(Box::new(Cond::Or(vec![
                    Cond::Cmp(path("Status"), CmpOp::Eq, s("New")),
                    Cond::Cmp(path("Status"), CmpOp::Eq, s("Closed")),
                ]))),
                Cond::Cmp(path("IsClosed"), CmpOp::Eq, Literal::Bool(true)),
            ])
        );
        assert_eq!(
            filter("SELECT Id FROM Account WHERE AnnualRevenue > -1.5"),
            Cond::Cmp(path("AnnualRevenue"), CmpOp::Gt, Literal::Num(-1.5))
        );
    }

    #[test]
    fn string_escapes_and_injection_stay_one_literal() {
        let Cond::Cmp(_, _, Literal::Str(lit)) =
            filter(r#"SELECT Id FROM Account WHERE Name = 'a\'b\"c\\d\ne\rf\tg\bh\fi\_j\%k'"#)
        else {
            panic!("not a string comparison");
        };
        assert_eq!(lit.value, "a'b\"c\\d\ne\rf\tg\u{8}h\u{c}i_j%k");
        assert_eq!(lit.pattern, "a'b\"c\\\\d\ne\rf\tg\u{8}h\u{c}i\\_j\\%k");

        let q = parse(r"SELECT Id FROM Account WHERE Name = 'x\' OR Name != \''").expect("parse");
        assert_eq!(q.filter, Some(Cond::Cmp(path("Name"), CmpOp::Eq, s("x' OR Name != '"))));
        let err = parse(r"SELECT Id FROM Account WHERE Name = 'x\q'").expect_err("bad escape");
        assert!(err.message.contains("illegal escape sequence '\\q'"), "{err}");
        let err = parse("SELECT Id FROM Account WHERE Name = 'open").expect_err("unterminated");
        assert!(err.message.contains("unterminated"), "{err}");
        // An unescaped quote ends the literal: the rest is a syntax error, never a condition.
        let err = parse("SELECT Id FROM Account WHERE Name = 'x' OR Name != ''x'").expect_err("inj");
        assert!(err.message.contains("unterminated"), "{err}");
    }

    #[test]
    fn date_literals_and_functions() {
        let q = parse(
            "SELECT Id FROM VoiceCall WHERE CreatedDate >= 2026-11-20 AND CreatedDate < 2026-11-20T10:00:00Z \
             AND CreatedDate > 2026-11-20T10:00:00.000+00:00 AND CreatedDate = TODAY AND CreatedDate = YESTERDAY \
             AND CreatedDate >= LAST_N_DAYS:2 AND CreatedDate > LAST_N_HOURS:5",
        )
        .expect("parse");
        let Some(Cond::And(items)) = q.filter else { panic!("and") };
        let values: Vec<Literal> = items
            .into_iter()
            .map(|c| match c {
                Cond::Cmp(_, _, v) => v,
                other => panic!("{other:?}"),
            })
            .collect();
        let date = NaiveDate::from_ymd_opt(2026, 11, 20).expect("date");
        let ten = date.and_hms_opt(10, 0, 0).expect("time").and_utc();
        assert_eq!(
            values,
            vec![
                Literal::Date(date),
                Literal::DateTime(ten),
                Literal::DateTime(ten),
                Literal::DateFn("TODAY".into(), None),
                Literal::DateFn("YESTERDAY".into(), None),
                Literal::DateFn("LAST_N_DAYS".into(), Some(2)),
                Literal::DateFn("LAST_N_HOURS".into(), Some(5)),
            ]
        );
        let now = ten + chrono::Duration::hours(3);
        let (start, end) = date_range(&Literal::DateFn("LAST_N_DAYS".into(), Some(2)), now).expect("range");
        assert_eq!(
            start,
            date.pred_opt().and_then(|d| d.pred_opt()).and_then(|d| d.and_hms_opt(0, 0, 0)).expect("d").and_utc()
        );
        assert_eq!(end, date.succ_opt().and_then(|d| d.and_hms_opt(0, 0, 0)).expect("d").and_utc());
        let (start, _) = date_range(&Literal::DateFn("LAST_N_HOURS".into(), Some(5)), now).expect("range");
        assert_eq!(start, now - chrono::Duration::hours(5));
        assert!(parse("SELECT Id FROM Account WHERE CreatedDate = LAST_N_DAYS").is_err());
        assert!(parse("SELECT Id FROM Account WHERE CreatedDate = 2026-13-45").is_err());
    }

    #[test]
    fn syntax_errors_name_the_token_and_column() {
        let cases = [
            ("SELECT FROM Account", "unexpected token: 'FROM'", 8),
            ("SELECT Id Account", "unexpected token: 'Account' (expecting 'FROM')", 11),
            ("SELECT Id FROM", "unexpected token: '<EOF>'", 15),
            ("SELECT Id FROM Account WHERE", "unexpected token: '<EOF>'", 29),
            ("SELECT Id FROM Account WHERE Name = ", "unexpected token: '<EOF>'", 37),
            ("SELECT Id FROM Account WHERE Name == 'a'", "unexpected token: '='", 36),
            ("SELECT Id FROM Account WHERE a = 1 AND b = 2 OR c = 3", "mixing AND and OR", 46),
            ("SELECT Id FROM Account LIMIT x", "unexpected token: 'x'", 30),
            ("SELECT Id FROM Account extra", "unexpected token: 'extra'", 24),
            ("SELECT Id, FROM Account", "unexpected token: 'FROM'", 12),
            ("SELECT Id FROM Account WHERE Name IN ()", "unexpected token: ')'", 39),
            ("SELECT Id FROM Account WHERE (Name = 'a'", "expecting ')'", 41),
            ("SELECT Id FROM Account WHERE Name = 'a' #", "unexpected character: '#'", 41),
            ("SELECT MAX(Id) FROM Account", "aggregate function 'MAX'", 11),
            ("DELETE FROM Account", "expecting 'SELECT'", 1),
        ];
        for (query, text, column) in cases {
            let e = parse(query).expect_err(query);
            assert!(e.message.contains(text), "{query}: {e}");
            assert_eq!(e.column, column, "{query}: {e}");
        }
    }

    #[test]
    fn semi_and_anti_joins() {
        let q = parse(
            "SELECT Id FROM MessagingChannel WHERE Id in (SELECT ChannelId FROM ContactCenterChannel WHERE \
             ContactCenterChannel.ContactCenter.InternalName='HVCC') AND SessionHandlerId NOT IN \
             (SELECT ReferenceRecordId FROM CallCenterRoutingMap) LIMIT 1",
        )
        .expect("parse");
        let Some(Cond::And(items)) = q.filter else { panic!("and") };
        let Cond::InQuery(left, sub, false) = &items[0] else { panic!("semi-join: {:?}", items[0]) };
        assert_eq!(left, &path("Id"));
        assert_eq!(sub.object, "ContactCenterChannel");
        assert_eq!(sub.fields, vec![path("ChannelId")]);
        assert_eq!(
            sub.filter,
            Some(Cond::Cmp(path("ContactCenterChannel.ContactCenter.InternalName"), CmpOp::Eq, s("HVCC")))
        );
        assert!(matches!(&items[1], Cond::InQuery(p, _, true) if p == &path("SessionHandlerId")));
        assert_eq!(q.limit, Some(1));
        let own_name = parse("SELECT Id FROM A WHERE Id IN (SELECT B.Id FROM B)").expect("own name prefix");
        assert!(own_name.filter.as_ref().is_some_and(has_semi_join));
        let cases = [
            ("SELECT Id FROM A WHERE Id IN (SELECT X, Y FROM B)", "exactly one field", 31),
            ("SELECT Id FROM A WHERE Id IN (SELECT C.X FROM B)", "cannot traverse", 31),
            ("SELECT Id FROM A WHERE Id IN (SELECT X FROM B ORDER BY X)", "ORDER BY, LIMIT", 31),
            ("SELECT Id FROM A WHERE Id IN (SELECT X FROM B WHERE Y IN (SELECT Z FROM C))", "nested", 31),
            ("SELECT Id FROM A WHERE N = 1 OR Id IN (SELECT X FROM B)", "OR", 30),
            ("SELECT Id FROM A WHERE NOT Id IN (SELECT X FROM B)", "NOT IN", 24),
            ("SELECT Id FROM A WHERE Id IN (SELECT X FROM B", "expecting ')'", 46),
        ];
        for (query, text, column) in cases {
            let e = parse(query).expect_err(query);
            assert!(e.message.contains(text), "{query}: {e}");
            assert_eq!(e.column, column, "{query}: {e}");
        }
    }

    #[test]
    fn like_patterns() {
        assert!(like("Acme Corp", "ac%"));
        assert!(like("Acme", "_cme"));
        assert!(like("Acme", "%"));
        assert!(!like("Acme", "_me"));
        assert!(like("50%", "50\\%"));
        assert!(!like("500", "50\\%"));
        assert!(like("a_b", "a\\_b"));
        assert!(!like("axb", "a\\_b"));
        assert!(like("abcabd", "%ab_"));
        assert!(!like("", "_"));
    }
}
