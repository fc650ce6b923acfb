//! XanoScript's filters and the helpers compiled scripts call, as native functions on the
//! shared Rhai engine (`xs_f_<filter>`, `xs_<helper>`). Filters take their arguments
//! padded with `()` to the filter's full arity, so each has exactly one registration.

use std::collections::HashMap;
use std::sync::Arc;

use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, Map, FLOAT, INT};

use crate::triggers::host::{to_dynamic, to_json};

type R = Result<Dynamic, Box<EvalAltResult>>;

/// A filter rtbox runs: name, fewest and most arguments, and whether it yields a bool.
pub struct FilterSpec {
    pub name: &'static str,
    pub min: usize,
    pub max: usize,
    pub boolean: bool,
}

const fn f(name: &'static str, min: usize, max: usize, boolean: bool) -> FilterSpec {
    FilterSpec {
        name,
        min,
        max,
        boolean,
    }
}

pub const FILTERS: &[FilterSpec] = &[
    // text
    f("trim", 0, 0, false),
    f("ltrim", 0, 0, false),
    f("rtrim", 0, 0, false),
    f("to_lower", 0, 0, false),
    f("to_upper", 0, 0, false),
    f("capitalize", 0, 0, false),
    f("strlen", 0, 0, false),
    f("concat", 1, 2, false),
    f("split", 1, 1, false),
    f("replace", 2, 2, false),
    f("substr", 1, 2, false),
    f("contains", 1, 1, true),
    f("starts_with", 1, 1, true),
    f("ends_with", 1, 1, true),
    // array
    f("count", 0, 0, false),
    f("first", 0, 0, false),
    f("last", 0, 0, false),
    f("join", 1, 1, false),
    f("append", 1, 1, false),
    f("prepend", 1, 1, false),
    f("merge", 1, 1, false),
    f("unique", 0, 0, false),
    f("reverse", 0, 0, false),
    f("filter_empty", 0, 0, false),
    // object
    f("get", 1, 2, false),
    f("set", 2, 2, false),
    f("has", 1, 1, true),
    f("unset", 1, 1, false),
    f("keys", 0, 0, false),
    f("values", 0, 0, false),
    // math
    f("add", 1, 1, false),
    f("subtract", 1, 1, false),
    f("multiply", 1, 1, false),
    f("divide", 1, 1, false),
    f("modulus", 1, 1, false),
    f("abs", 0, 0, false),
    f("ceil", 0, 0, false),
    f("floor", 0, 0, false),
    f("round", 0, 1, false),
    f("min", 0, 1, false),
    f("max", 0, 1, false),
    f("sum", 0, 0, false),
    f("avg", 0, 0, false),
    // conversion
    f("to_int", 0, 0, false),
    f("to_decimal", 0, 0, false),
    f("to_text", 0, 0, false),
    f("to_bool", 0, 0, true),
    f("json_encode", 0, 0, false),
    f("json_decode", 0, 0, false),
    // comparison
    f("is_empty", 0, 0, true),
    f("is_null", 0, 0, true),
    f("not", 0, 0, true),
    f("equals", 1, 1, true),
    f("not_equals", 1, 1, true),
    f("greater_than", 1, 1, true),
    f("greater_than_or_equal", 1, 1, true),
    f("less_than", 1, 1, true),
    f("less_than_or_equal", 1, 1, true),
    f("is_array", 0, 0, true),
    f("is_object", 0, 0, true),
    f("is_text", 0, 0, true),
    f("is_int", 0, 0, true),
    f("is_decimal", 0, 0, true),
    f("is_bool", 0, 0, true),
    f("first_notnull", 1, 1, false),
    f("first_notempty", 1, 1, false),
];

pub fn filter(name: &str) -> Option<&'static FilterSpec> {
    FILTERS.iter().find(|f| f.name == name)
}

fn err<T>(msg: impl Into<String>) -> Result<T, Box<EvalAltResult>> {
    Err(msg.into().into())
}

fn type_name(v: &Dynamic) -> &'static str {
    if v.is_unit() {
        "null"
    } else if v.is_string() {
        "text"
    } else if v.is_int() {
        "int"
    } else if v.is_float() {
        "decimal"
    } else if v.is_bool() {
        "bool"
    } else if v.is_array() {
        "array"
    } else if v.is_map() {
        "object"
    } else {
        "value"
    }
}

pub fn to_text(v: &Dynamic) -> String {
    if v.is_unit() {
        return String::new();
    }
    if v.is_string() || v.is_int() || v.is_float() || v.is_bool() || v.is_char() {
        return v.to_string();
    }
    to_json(v).map(|j| j.to_string()).unwrap_or_default()
}

fn text(name: &str, v: &Dynamic) -> Result<String, Box<EvalAltResult>> {
    if v.is_array() || v.is_map() {
        return err(format!("{name}: expects text, got {}", type_name(v)));
    }
    Ok(to_text(v))
}

pub fn truthy(v: &Dynamic) -> bool {
    if v.is_unit() {
        false
    } else if let Ok(b) = v.as_bool() {
        b
    } else if let Ok(i) = v.as_int() {
        i != 0
    } else if let Ok(f) = v.as_float() {
        f != 0.0
    } else if v.is_string() {
        let s = v.clone().into_immutable_string().unwrap_or_default();
        !s.is_empty() && s != "0" && s != "false"
    } else if v.is_array() {
        v.read_lock::<Array>().is_some_and(|a| !a.is_empty())
    } else if v.is_map() {
        v.read_lock::<Map>().is_some_and(|m| !m.is_empty())
    } else {
        true
    }
}

fn is_empty(v: &Dynamic) -> bool {
    if v.is_unit() {
        return true;
    }
    if v.is_string() {
        return v
            .clone()
            .into_immutable_string()
            .unwrap_or_default()
            .is_empty();
    }
    if v.is_array() {
        return v.read_lock::<Array>().is_none_or(|a| a.is_empty());
    }
    if v.is_map() {
        return v.read_lock::<Map>().is_none_or(|m| m.is_empty());
    }
    if let Ok(i) = v.as_int() {
        return i == 0;
    }
    if let Ok(f) = v.as_float() {
        return f == 0.0;
    }
    if let Ok(b) = v.as_bool() {
        return !b;
    }
    false
}

#[derive(Clone, Copy)]
enum Num {
    I(INT),
    F(FLOAT),
}

impl Num {
    fn f(self) -> FLOAT {
        match self {
            Num::I(i) => i as FLOAT,
            Num::F(f) => f,
        }
    }
    fn dynamic(self) -> Dynamic {
        match self {
            Num::I(i) => Dynamic::from_int(i),
            Num::F(f) => Dynamic::from_float(f),
        }
    }
}

fn num(name: &str, v: &Dynamic) -> Result<Num, Box<EvalAltResult>> {
    if let Ok(i) = v.as_int() {
        return Ok(Num::I(i));
    }
    if let Ok(f) = v.as_float() {
        return Ok(Num::F(f));
    }
    if let Ok(b) = v.as_bool() {
        return Ok(Num::I(b as INT));
    }
    if v.is_string() {
        let s = v.to_string();
        let s = s.trim();
        if let Ok(i) = s.parse::<INT>() {
            return Ok(Num::I(i));
        }
        if let Ok(f) = s.parse::<FLOAT>() {
            return Ok(Num::F(f));
        }
    }
    err(format!("{name}: expects a number, got {}", type_name(v)))
}

fn arith(name: &str, a: &Dynamic, b: &Dynamic) -> R {
    let (x, y) = (num(name, a)?, num(name, b)?);
    let int = match (name, x, y) {
        ("add", Num::I(x), Num::I(y)) => x.checked_add(y),
        ("subtract", Num::I(x), Num::I(y)) => x.checked_sub(y),
        ("multiply", Num::I(x), Num::I(y)) => x.checked_mul(y),
        ("modulus", Num::I(x), Num::I(y)) if y != 0 => x.checked_rem(y),
        ("divide", Num::I(x), Num::I(y)) if y != 0 && x % y == 0 => x.checked_div(y),
        _ => None,
    };
    if let Some(i) = int {
        return Ok(Dynamic::from_int(i));
    }
    let (x, y) = (x.f(), y.f());
    let out = match name {
        "add" => x + y,
        "subtract" => x - y,
        "multiply" => x * y,
        "divide" | "modulus" if y == 0.0 => return err(format!("{name}: division by zero")),
        "divide" => x / y,
        _ => x % y,
    };
    Ok(Dynamic::from_float(out))
}

fn array(name: &str, v: &Dynamic) -> Result<Array, Box<EvalAltResult>> {
    if v.is_unit() {
        return Ok(Array::new());
    }
    v.clone()
        .into_array()
        .or_else(|_| err(format!("{name}: expects an array, got {}", type_name(v))))
}

fn map(name: &str, v: &Dynamic) -> Result<Map, Box<EvalAltResult>> {
    if v.is_unit() {
        return Ok(Map::new());
    }
    v.clone().try_cast::<Map>().map_or_else(
        || err(format!("{name}: expects an object, got {}", type_name(v))),
        Ok,
    )
}

fn dyn_eq(a: &Dynamic, b: &Dynamic) -> bool {
    if let (Ok(x), Ok(y)) = (num("", a), num("", b)) {
        if !(a.is_string() || b.is_string()) {
            return x.f() == y.f();
        }
    }
    match (to_json(a), to_json(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

fn compare(name: &str, a: &Dynamic, b: &Dynamic) -> Result<std::cmp::Ordering, Box<EvalAltResult>> {
    if a.is_string() && b.is_string() {
        return Ok(a.to_string().cmp(&b.to_string()));
    }
    let (x, y) = (num(name, a)?, num(name, b)?);
    x.f()
        .partial_cmp(&y.f())
        .ok_or_else(|| format!("{name}: cannot compare NaN").into())
}

fn key_of(name: &str, k: &Dynamic) -> Result<String, Box<EvalAltResult>> {
    text(name, k)
}

fn get(v: &Dynamic, k: &Dynamic, default: Dynamic) -> R {
    if v.is_array() {
        let a = array("get", v)?;
        let i = num("get", k)?;
        let Num::I(i) = i else { return Ok(default) };
        let idx = if i < 0 { a.len() as INT + i } else { i };
        return Ok(a
            .get(idx as usize)
            .filter(|_| idx >= 0)
            .cloned()
            .unwrap_or(default));
    }
    if v.is_unit() {
        return Ok(default);
    }
    let m = map("get", v)?;
    let key = key_of("get", k)?;
    // Dotted paths (`"a.b"`) reach into nested objects, as in Xano.
    let mut cur = Dynamic::from_map(m);
    for part in key.split('.') {
        let Some(m) = cur.read_lock::<Map>().map(|m| m.get(part).cloned()) else {
            return Ok(default);
        };
        match m {
            Some(next) => cur = next,
            None => return Ok(default),
        }
    }
    Ok(if cur.is_unit() { default } else { cur })
}

fn round(v: &Dynamic, precision: &Dynamic) -> R {
    let n = num("round", v)?;
    let p = if precision.is_unit() {
        0
    } else {
        match num("round", precision)? {
            Num::I(i) => i.clamp(0, 15),
            Num::F(f) => (f as INT).clamp(0, 15),
        }
    };
    match n {
        Num::I(i) => Ok(Dynamic::from_int(i)),
        Num::F(f) if p == 0 => {
            let r = f.round();
            if r.abs() < 9.0e15 {
                Ok(Dynamic::from_int(r as INT))
            } else {
                Ok(Dynamic::from_float(r))
            }
        }
        Num::F(f) => {
            let m = 10f64.powi(p as i32);
            Ok(Dynamic::from_float((f * m).round() / m))
        }
    }
}

fn extreme(name: &str, v: &Dynamic, other: &Dynamic, want_max: bool) -> R {
    let items: Vec<Dynamic> = if other.is_unit() {
        array(name, v)?
    } else {
        vec![v.clone(), other.clone()]
    };
    let mut best: Option<(Num, Dynamic)> = None;
    for it in items {
        let n = num(name, &it)?;
        let better = match &best {
            None => true,
            Some((b, _)) => (n.f() > b.f()) == want_max && n.f() != b.f(),
        };
        if better {
            best = Some((n, it));
        }
    }
    Ok(best.map(|(n, _)| n.dynamic()).unwrap_or(Dynamic::UNIT))
}

fn filter_fn(name: &'static str, a: Dynamic, b: Dynamic, c: Dynamic) -> R {
    let s = |v: &Dynamic| text(name, v);
    let out: Dynamic = match name {
        "trim" => s(&a)?.trim().into(),
        "ltrim" => s(&a)?.trim_start().into(),
        "rtrim" => s(&a)?.trim_end().into(),
        "to_lower" => s(&a)?.to_lowercase().into(),
        "to_upper" => s(&a)?.to_uppercase().into(),
        "capitalize" => {
            let t = s(&a)?;
            let mut cs = t.chars();
            match cs.next() {
                Some(first) => format!("{}{}", first.to_uppercase(), cs.as_str()).into(),
                None => "".into(),
            }
        }
        "strlen" => Dynamic::from_int(s(&a)?.chars().count() as INT),
        "concat" => {
            let sep = if c.is_unit() { String::new() } else { s(&c)? };
            format!("{}{sep}{}", s(&a)?, s(&b)?).into()
        }
        "split" => {
            let t = s(&a)?;
            let sep = s(&b)?;
            let parts: Array = if sep.is_empty() {
                t.chars().map(|ch| Dynamic::from(ch.to_string())).collect()
            } else {
                t.split(sep.as_str())
                    .map(|p| Dynamic::from(p.to_string()))
                    .collect()
            };
            Dynamic::from_array(parts)
        }
        "replace" => {
            let from = s(&b)?;
            if from.is_empty() {
                return err("replace: the text to replace is empty");
            }
            s(&a)?.replace(&from, &s(&c)?).into()
        }
        "substr" => {
            let t: Vec<char> = s(&a)?.chars().collect();
            let len = t.len() as INT;
            let start = match num(name, &b)? {
                Num::I(i) => i,
                Num::F(f) => f as INT,
            };
            let start = if start < 0 {
                (len + start).max(0)
            } else {
                start.min(len)
            };
            let count = if c.is_unit() {
                len - start
            } else {
                match num(name, &c)? {
                    Num::I(i) => i,
                    Num::F(f) => f as INT,
                }
            };
            let end = if count < 0 {
                (len + count).max(start)
            } else {
                (start + count).min(len)
            };
            t[start as usize..end as usize]
                .iter()
                .collect::<String>()
                .into()
        }
        "contains" => {
            if a.is_array() {
                Dynamic::from_bool(array(name, &a)?.iter().any(|x| dyn_eq(x, &b)))
            } else {
                Dynamic::from_bool(s(&a)?.contains(&s(&b)?))
            }
        }
        "starts_with" => Dynamic::from_bool(s(&a)?.starts_with(&s(&b)?)),
        "ends_with" => Dynamic::from_bool(s(&a)?.ends_with(&s(&b)?)),
        "count" => {
            if a.is_map() {
                Dynamic::from_int(map(name, &a)?.len() as INT)
            } else if a.is_string() {
                Dynamic::from_int(s(&a)?.chars().count() as INT)
            } else {
                Dynamic::from_int(array(name, &a)?.len() as INT)
            }
        }
        "first" => array(name, &a)?.first().cloned().unwrap_or(Dynamic::UNIT),
        "last" => array(name, &a)?.last().cloned().unwrap_or(Dynamic::UNIT),
        "join" => {
            let sep = s(&b)?;
            let parts: Vec<String> = array(name, &a)?.iter().map(to_text).collect();
            parts.join(&sep).into()
        }
        "append" => {
            let mut arr = array(name, &a)?;
            arr.push(b);
            Dynamic::from_array(arr)
        }
        "prepend" => {
            let mut arr = array(name, &a)?;
            arr.insert(0, b);
            Dynamic::from_array(arr)
        }
        "merge" => {
            if a.is_map() || (a.is_unit() && b.is_map()) {
                let mut m = map(name, &a)?;
                m.extend(map(name, &b)?);
                Dynamic::from_map(m)
            } else {
                let mut arr = array(name, &a)?;
                arr.extend(array(name, &b)?);
                Dynamic::from_array(arr)
            }
        }
        "unique" => {
            let mut out: Array = Array::new();
            for it in array(name, &a)? {
                if !out.iter().any(|x| dyn_eq(x, &it)) {
                    out.push(it);
                }
            }
            Dynamic::from_array(out)
        }
        "reverse" => {
            if a.is_string() {
                s(&a)?.chars().rev().collect::<String>().into()
            } else {
                let mut arr = array(name, &a)?;
                arr.reverse();
                Dynamic::from_array(arr)
            }
        }
        "filter_empty" => {
            if a.is_map() {
                let mut m = map(name, &a)?;
                m.retain(|_, v| !is_empty(v));
                Dynamic::from_map(m)
            } else {
                let mut arr = array(name, &a)?;
                arr.retain(|v| !is_empty(v));
                Dynamic::from_array(arr)
            }
        }
        "get" => return get(&a, &b, c),
        "set" => {
            let mut m = map(name, &a)?;
            m.insert(key_of(name, &b)?.into(), c);
            Dynamic::from_map(m)
        }
        "has" => {
            if a.is_unit() {
                Dynamic::FALSE
            } else {
                Dynamic::from_bool(map(name, &a)?.contains_key(key_of(name, &b)?.as_str()))
            }
        }
        "unset" => {
            let mut m = map(name, &a)?;
            m.remove(key_of(name, &b)?.as_str());
            Dynamic::from_map(m)
        }
        "keys" => Dynamic::from_array(
            map(name, &a)?
                .keys()
                .map(|k| Dynamic::from(k.to_string()))
                .collect(),
        ),
        "values" => Dynamic::from_array(map(name, &a)?.into_values().collect()),
        "add" | "subtract" | "multiply" | "divide" | "modulus" => return arith(name, &a, &b),
        "abs" => match num(name, &a)? {
            Num::I(i) => Dynamic::from_int(i.checked_abs().ok_or("abs: overflow")?),
            Num::F(f) => Dynamic::from_float(f.abs()),
        },
        "ceil" => match num(name, &a)? {
            Num::I(i) => Dynamic::from_int(i),
            Num::F(f) => Dynamic::from_int(f.ceil() as INT),
        },
        "floor" => match num(name, &a)? {
            Num::I(i) => Dynamic::from_int(i),
            Num::F(f) => Dynamic::from_int(f.floor() as INT),
        },
        "round" => return round(&a, &b),
        "min" => return extreme(name, &a, &b, false),
        "max" => return extreme(name, &a, &b, true),
        "sum" | "avg" => {
            let items = array(name, &a)?;
            let mut total = Dynamic::from_int(0);
            for it in &items {
                total = arith("add", &total, it)?;
            }
            if name == "avg" {
                if items.is_empty() {
                    return Ok(Dynamic::UNIT);
                }
                Dynamic::from_float(num(name, &total)?.f() / items.len() as FLOAT)
            } else {
                total
            }
        }
        "to_int" => {
            if a.is_unit() {
                Dynamic::from_int(0)
            } else {
                match num(name, &a)? {
                    Num::I(i) => Dynamic::from_int(i),
                    Num::F(f) => Dynamic::from_int(f.trunc() as INT),
                }
            }
        }
        "to_decimal" => Dynamic::from_float(if a.is_unit() { 0.0 } else { num(name, &a)?.f() }),
        "to_text" => to_text(&a).into(),
        "to_bool" => Dynamic::from_bool(truthy(&a)),
        "json_encode" => to_json(&a)
            .map_err(|e| format!("json_encode: {e}"))?
            .to_string()
            .into(),
        "json_decode" => {
            let t = s(&a)?;
            let v: serde_json::Value =
                serde_json::from_str(&t).map_err(|e| format!("json_decode: {e}"))?;
            to_dynamic(&v)
        }
        "is_empty" => Dynamic::from_bool(is_empty(&a)),
        "is_null" => Dynamic::from_bool(a.is_unit()),
        "not" => Dynamic::from_bool(!truthy(&a)),
        "equals" => Dynamic::from_bool(dyn_eq(&a, &b)),
        "not_equals" => Dynamic::from_bool(!dyn_eq(&a, &b)),
        "greater_than" => Dynamic::from_bool(compare(name, &a, &b)?.is_gt()),
        "greater_than_or_equal" => Dynamic::from_bool(compare(name, &a, &b)?.is_ge()),
        "less_than" => Dynamic::from_bool(compare(name, &a, &b)?.is_lt()),
        "less_than_or_equal" => Dynamic::from_bool(compare(name, &a, &b)?.is_le()),
        "is_array" => Dynamic::from_bool(a.is_array()),
        "is_object" => Dynamic::from_bool(a.is_map()),
        "is_text" => Dynamic::from_bool(a.is_string()),
        "is_int" => Dynamic::from_bool(a.is_int()),
        "is_decimal" => Dynamic::from_bool(a.is_float()),
        "is_bool" => Dynamic::from_bool(a.is_bool()),
        "first_notnull" => {
            if a.is_unit() {
                b
            } else {
                a
            }
        }
        "first_notempty" => {
            if is_empty(&a) {
                b
            } else {
                a
            }
        }
        other => return err(format!("filter `{other}` is not supported")),
    };
    Ok(out)
}

fn index(v: &Dynamic, i: &Dynamic) -> R {
    if v.is_unit() {
        return Ok(Dynamic::UNIT);
    }
    if v.is_map() {
        let k = to_text(i);
        return Ok(v
            .read_lock::<Map>()
            .and_then(|m| m.get(k.as_str()).cloned())
            .unwrap_or(Dynamic::UNIT));
    }
    get(v, i, Dynamic::UNIT)
}

fn iter(v: Dynamic) -> R {
    if v.is_unit() {
        return Ok(Dynamic::from_array(Array::new()));
    }
    if v.is_map() {
        return Ok(Dynamic::from_array(
            map("foreach", &v)?.into_values().collect(),
        ));
    }
    if v.is_array() {
        return Ok(v);
    }
    err(format!("foreach: expects a list, got {}", type_name(&v)))
}

fn error_map(e: Dynamic) -> Dynamic {
    if e.is_map() {
        let mut m = e.cast::<Map>();
        if !m.contains_key("name") {
            m.insert("name".into(), "Error".into());
        }
        return Dynamic::from_map(m);
    }
    let mut m = Map::new();
    m.insert("name".into(), "Error".into());
    m.insert("message".into(), to_text(&e).into());
    m.insert("value".into(), e);
    Dynamic::from_map(m)
}

fn thrown(name: Dynamic, value: Dynamic) -> Dynamic {
    let mut m = Map::new();
    m.insert("name".into(), to_text(&name).into());
    m.insert("message".into(), to_text(&value).into());
    m.insert("value".into(), value);
    Dynamic::from_map(m)
}

const QUERY_METHODS: [&str; 2] = ["GET", "HEAD"];

fn method_of(m: &Dynamic) -> Result<String, Box<EvalAltResult>> {
    let m = text("api.request", m)?.to_ascii_uppercase();
    if m.is_empty() {
        return Ok("GET".into());
    }
    Ok(m)
}

fn api_url(url: &Dynamic, method: &Dynamic, params: &Dynamic) -> R {
    let mut url = text("api.request url", url)?;
    if QUERY_METHODS.contains(&method_of(method)?.as_str()) && params.is_map() {
        let m = map("api.request params", params)?;
        if !m.is_empty() {
            let pairs: Vec<String> = m
                .iter()
                .map(|(k, v)| {
                    let enc = |s: &str| {
                        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                            .to_string()
                    };
                    format!("{}={}", enc(k), enc(&to_text(v)))
                })
                .collect();
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&pairs.join("&"));
        }
    }
    Ok(url.into())
}

fn api_body(method: &Dynamic, params: Dynamic) -> R {
    if QUERY_METHODS.contains(&method_of(method)?.as_str()) {
        return Ok(Dynamic::UNIT);
    }
    Ok(params)
}

/// Xano passes headers as `["Name: value", …]`; an object is taken as well.
fn api_opts(headers: &Dynamic, timeout: Dynamic) -> R {
    let mut out = Map::new();
    let mut h = Map::new();
    if headers.is_map() {
        for (k, v) in map("api.request headers", headers)? {
            h.insert(k, to_text(&v).into());
        }
    } else if !headers.is_unit() {
        for line in array("api.request headers", headers)? {
            let line = to_text(&line);
            let Some((k, v)) = line.split_once(':') else {
                return err(format!(
                    "api.request headers: {line:?} is not \"Name: value\""
                ));
            };
            h.insert(k.trim().into(), Dynamic::from(v.trim().to_string()));
        }
    }
    if !h.is_empty() {
        out.insert("headers".into(), Dynamic::from_map(h));
    }
    if !timeout.is_unit() {
        out.insert("timeout".into(), timeout);
    }
    Ok(Dynamic::from_map(out))
}

/// `{response: {status, result, headers}, request: {url, method, params, headers}}`.
fn api_result(resp: Map, url: Dynamic, method: Dynamic, params: Dynamic, headers: Dynamic) -> R {
    let mut response = Map::new();
    response.insert(
        "status".into(),
        resp.get("status").cloned().unwrap_or_default(),
    );
    response.insert(
        "result".into(),
        resp.get("body").cloned().unwrap_or_default(),
    );
    response.insert(
        "headers".into(),
        resp.get("headers").cloned().unwrap_or_default(),
    );
    let mut request = Map::new();
    request.insert("url".into(), url);
    request.insert("method".into(), Dynamic::from(method_of(&method)?));
    request.insert("params".into(), params);
    request.insert("headers".into(), headers);
    let mut out = Map::new();
    out.insert("response".into(), Dynamic::from_map(response));
    out.insert("request".into(), Dynamic::from_map(request));
    Ok(Dynamic::from_map(out))
}

fn db_key(table: &str, key: &Dynamic) -> R {
    let k = text("db key", key)?;
    if k.is_empty() {
        return err(format!("db: the record id for table `{table}` is empty"));
    }
    Ok(format!("{table}/{k}").into())
}

/// Environment values `$env.NAME` reads: the server's `RTBOX_ENV_NAME` variables only,
/// so scripts never see the server's own secrets.
pub fn env_snapshot() -> Arc<HashMap<String, String>> {
    Arc::new(
        std::env::vars()
            .filter_map(|(k, v)| k.strip_prefix("RTBOX_ENV_").map(|n| (n.to_string(), v)))
            .collect(),
    )
}

pub fn register(engine: &mut Engine, env: Arc<HashMap<String, String>>) {
    for spec in FILTERS {
        let name = spec.name;
        let fname = format!("xs_f_{name}");
        match spec.max {
            0 => {
                engine.register_fn(&fname, move |a: Dynamic| {
                    filter_fn(name, a, Dynamic::UNIT, Dynamic::UNIT)
                });
            }
            1 => {
                engine.register_fn(&fname, move |a: Dynamic, b: Dynamic| {
                    filter_fn(name, a, b, Dynamic::UNIT)
                });
            }
            _ => {
                engine.register_fn(&fname, move |a: Dynamic, b: Dynamic, c: Dynamic| {
                    filter_fn(name, a, b, c)
                });
            }
        }
    }
    engine.register_fn("xs_records", |list: Array| -> Array {
        list.into_iter()
            .map(|r| {
                r.read_lock::<Map>()
                    .and_then(|m| m.get("value").cloned())
                    .unwrap_or_default()
            })
            .collect()
    });
    engine.register_fn("xs_truthy", |v: Dynamic| truthy(&v));
    engine.register_fn("xs_text", |v: Dynamic| -> ImmutableString {
        to_text(&v).into()
    });
    engine.register_fn("xs_concat", |a: Dynamic, b: Dynamic| -> ImmutableString {
        format!("{}{}", to_text(&a), to_text(&b)).into()
    });
    engine.register_fn("xs_div", |a: Dynamic, b: Dynamic| arith("divide", &a, &b));
    engine.register_fn("xs_index", |v: Dynamic, i: Dynamic| index(&v, &i));
    engine.register_fn("xs_iter", iter);
    engine.register_fn("xs_int", |v: Dynamic| -> Result<INT, Box<EvalAltResult>> {
        match num("for", &v)? {
            Num::I(i) => Ok(i),
            Num::F(f) => Ok(f as INT),
        }
    });
    engine.register_fn("xs_error", error_map);
    engine.register_fn("xs_throw", thrown);
    engine.register_fn("xs_env", move |name: &str| -> Dynamic {
        env.get(name)
            .map(|v| Dynamic::from(v.clone()))
            .unwrap_or(Dynamic::UNIT)
    });
    engine.register_fn("xs_db_key", |table: &str, key: Dynamic| db_key(table, &key));
    engine.register_fn("xs_url", |u: Dynamic, m: Dynamic, p: Dynamic| {
        api_url(&u, &m, &p)
    });
    engine.register_fn("xs_body", |m: Dynamic, p: Dynamic| api_body(&m, p));
    engine.register_fn("xs_method", |m: Dynamic| method_of(&m));
    engine.register_fn("xs_http_opts", |h: Dynamic, t: Dynamic| api_opts(&h, t));
    engine.register_fn(
        "xs_api_result",
        |r: Map, u: Dynamic, m: Dynamic, p: Dynamic, h: Dynamic| api_result(r, u, m, p, h),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(name: &'static str, args: &[serde_json::Value]) -> serde_json::Value {
        let mut d: Vec<Dynamic> = args.iter().map(to_dynamic).collect();
        while d.len() < 3 {
            d.push(Dynamic::UNIT);
        }
        let out = filter_fn(name, d[0].clone(), d[1].clone(), d[2].clone())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        to_json(&out).unwrap()
    }

    fn fails(name: &'static str, args: &[serde_json::Value]) -> String {
        let mut d: Vec<Dynamic> = args.iter().map(to_dynamic).collect();
        while d.len() < 3 {
            d.push(Dynamic::UNIT);
        }
        filter_fn(name, d[0].clone(), d[1].clone(), d[2].clone())
            .expect_err(name)
            .to_string()
    }

    #[test]
    fn every_listed_filter_is_implemented() {
        for spec in FILTERS {
            let out = filter_fn(spec.name, Dynamic::UNIT, Dynamic::UNIT, Dynamic::UNIT);
            if let Err(e) = out {
                assert!(!e.to_string().contains("not supported"), "{}", spec.name);
            }
        }
    }

    #[test]
    fn text_filters() {
        assert_eq!(run("trim", &[json!("  a b ")]), json!("a b"));
        assert_eq!(run("ltrim", &[json!("  a ")]), json!("a "));
        assert_eq!(run("rtrim", &[json!("  a ")]), json!("  a"));
        assert_eq!(run("to_lower", &[json!("HeLLo")]), json!("hello"));
        assert_eq!(run("to_upper", &[json!("HeLLo")]), json!("HELLO"));
        assert_eq!(run("capitalize", &[json!("hello")]), json!("Hello"));
        assert_eq!(run("strlen", &[json!("héllo")]), json!(5));
        assert_eq!(
            run("concat", &[json!("hello"), json!("world"), json!(", ")]),
            json!("hello, world")
        );
        assert_eq!(run("concat", &[json!("a"), json!(1)]), json!("a1"));
        assert_eq!(
            run("split", &[json!("a,b,,c"), json!(",")]),
            json!(["a", "b", "", "c"])
        );
        assert_eq!(
            run("replace", &[json!("a-b-c"), json!("-"), json!("+")]),
            json!("a+b+c")
        );
        assert_eq!(
            run("substr", &[json!("hello"), json!(1), json!(3)]),
            json!("ell")
        );
        assert_eq!(run("substr", &[json!("hello"), json!(-3)]), json!("llo"));
        assert_eq!(
            run("contains", &[json!("hello"), json!("ell")]),
            json!(true)
        );
        assert_eq!(run("contains", &[json!([1, 2]), json!(2)]), json!(true));
        assert_eq!(
            run("starts_with", &[json!("hello"), json!("he")]),
            json!(true)
        );
        assert_eq!(
            run("ends_with", &[json!("hello"), json!("he")]),
            json!(false)
        );
        assert!(fails("trim", &[json!([1])]).contains("expects text"));
    }

    #[test]
    fn array_filters() {
        assert_eq!(run("count", &[json!([1, 2, 3])]), json!(3));
        assert_eq!(run("count", &[json!({"a": 1})]), json!(1));
        assert_eq!(run("first", &[json!([1, 2, 3])]), json!(1));
        assert_eq!(run("first", &[json!([])]), json!(null));
        assert_eq!(run("last", &[json!([1, 2, 3])]), json!(3));
        assert_eq!(
            run("join", &[json!(["a", 1, true]), json!("-")]),
            json!("a-1-true")
        );
        assert_eq!(run("append", &[json!([1]), json!(2)]), json!([1, 2]));
        assert_eq!(run("prepend", &[json!([1]), json!(0)]), json!([0, 1]));
        assert_eq!(run("merge", &[json!([1]), json!([2, 3])]), json!([1, 2, 3]));
        assert_eq!(
            run("merge", &[json!({"a": 1}), json!({"b": 2})]),
            json!({"a": 1, "b": 2})
        );
        assert_eq!(run("unique", &[json!([1, 2, 1, "1"])]), json!([1, 2, "1"]));
        assert_eq!(run("reverse", &[json!([1, 2])]), json!([2, 1]));
        assert_eq!(
            run("filter_empty", &[json!(["a", "", null, 0, [], "b"])]),
            json!(["a", "b"])
        );
        assert!(fails("first", &[json!("x")]).contains("expects an array"));
    }

    #[test]
    fn object_filters() {
        let o = json!({"a": {"b": 2}, "n": null});
        assert_eq!(run("get", &[o.clone(), json!("a.b")]), json!(2));
        assert_eq!(
            run("get", &[o.clone(), json!("x"), json!("dflt")]),
            json!("dflt")
        );
        assert_eq!(run("get", &[o.clone(), json!("n"), json!(5)]), json!(5));
        assert_eq!(run("get", &[json!([1, 2, 3]), json!(-1)]), json!(3));
        assert_eq!(
            run("set", &[json!({"a": 1}), json!("b"), json!(2)]),
            json!({"a": 1, "b": 2})
        );
        assert_eq!(run("has", &[o.clone(), json!("a")]), json!(true));
        assert_eq!(run("has", &[o.clone(), json!("zz")]), json!(false));
        assert_eq!(
            run("unset", &[json!({"a": 1, "b": 2}), json!("a")]),
            json!({"b": 2})
        );
        assert_eq!(run("keys", &[json!({"a": 1})]), json!(["a"]));
        assert_eq!(run("values", &[json!({"a": 1})]), json!([1]));
    }

    #[test]
    fn math_filters() {
        assert_eq!(run("add", &[json!(2), json!(3)]), json!(5));
        assert_eq!(run("add", &[json!(2), json!(0.5)]), json!(2.5));
        assert_eq!(run("subtract", &[json!(2), json!(3)]), json!(-1));
        assert_eq!(run("multiply", &[json!("4"), json!(3)]), json!(12));
        assert_eq!(run("divide", &[json!(10), json!(4)]), json!(2.5));
        assert_eq!(run("divide", &[json!(10), json!(5)]), json!(2));
        assert!(fails("divide", &[json!(1), json!(0)]).contains("division by zero"));
        assert_eq!(run("modulus", &[json!(10), json!(4)]), json!(2));
        assert_eq!(run("abs", &[json!(-3)]), json!(3));
        assert_eq!(run("ceil", &[json!(1.2)]), json!(2));
        assert_eq!(run("floor", &[json!(1.8)]), json!(1));
        assert_eq!(run("round", &[json!(1.5)]), json!(2));
        assert_eq!(run("round", &[json!(1.2345), json!(2)]), json!(1.23));
        assert_eq!(run("min", &[json!([3, 1, 2])]), json!(1));
        assert_eq!(run("max", &[json!([3, 1, 2])]), json!(3));
        assert_eq!(run("max", &[json!(3), json!(10)]), json!(10));
        assert_eq!(run("min", &[json!(3), json!(10)]), json!(3));
        assert_eq!(run("sum", &[json!([1, 2, 3.5])]), json!(6.5));
        assert_eq!(run("avg", &[json!([1, 2, 3])]), json!(2.0));
        assert!(fails("add", &[json!("x"), json!(1)]).contains("expects a number"));
    }

    #[test]
    fn conversion_and_comparison_filters() {
        assert_eq!(run("to_int", &[json!("42")]), json!(42));
        assert_eq!(run("to_int", &[json!(4.9)]), json!(4));
        assert_eq!(run("to_decimal", &[json!("1.5")]), json!(1.5));
        assert_eq!(run("to_text", &[json!(12)]), json!("12"));
        assert_eq!(run("to_text", &[json!({"a": 1})]), json!("{\"a\":1}"));
        assert_eq!(run("to_bool", &[json!("")]), json!(false));
        assert_eq!(run("to_bool", &[json!(1)]), json!(true));
        assert_eq!(
            run("json_encode", &[json!({"a": [1]})]),
            json!("{\"a\":[1]}")
        );
        assert_eq!(
            run("json_decode", &[json!("{\"a\":[1]}")]),
            json!({"a": [1]})
        );
        assert!(fails("json_decode", &[json!("{")]).contains("json_decode"));
        assert_eq!(run("is_empty", &[json!("")]), json!(true));
        assert_eq!(run("is_empty", &[json!([1])]), json!(false));
        assert_eq!(run("is_null", &[json!(null)]), json!(true));
        assert_eq!(run("not", &[json!(true)]), json!(false));
        assert_eq!(run("equals", &[json!(1), json!(1.0)]), json!(true));
        assert_eq!(run("equals", &[json!("1"), json!(1)]), json!(false));
        assert_eq!(run("not_equals", &[json!("a"), json!("b")]), json!(true));
        assert_eq!(run("greater_than", &[json!(2), json!(1)]), json!(true));
        assert_eq!(
            run("greater_than_or_equal", &[json!(1), json!(1)]),
            json!(true)
        );
        assert_eq!(run("less_than", &[json!("a"), json!("b")]), json!(true));
        assert_eq!(
            run("less_than_or_equal", &[json!(2), json!(1)]),
            json!(false)
        );
        assert_eq!(run("is_array", &[json!([])]), json!(true));
        assert_eq!(run("is_object", &[json!({})]), json!(true));
        assert_eq!(run("is_text", &[json!("")]), json!(true));
        assert_eq!(run("is_int", &[json!(1)]), json!(true));
        assert_eq!(run("is_decimal", &[json!(1.5)]), json!(true));
        assert_eq!(run("is_bool", &[json!(false)]), json!(true));
        assert_eq!(run("first_notnull", &[json!(null), json!(2)]), json!(2));
        assert_eq!(run("first_notempty", &[json!(""), json!("x")]), json!("x"));
    }
}
