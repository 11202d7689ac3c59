//! The operator table: each Jayway operator true and false, across type mismatches and missing
//! paths, through `$[?(<expression>)]` on one document's root object.

use serde_json::{Value, json};
use tessera_flow::filter::TriggerFilter;

/// The document every operator case tests, through `$[?(<expression>)]` on its root object.
pub(crate) fn operator_document() -> Value {
    json!({
        "s": "Sales", "n": 5, "f": 2.5, "t": true, "z": null, "text5": "5", "empty": "",
        "a": ["x", "y"], "nums": [1, 2, 3], "none": [], "o": {"k": 1}, "eo": {},
        "items": [{"v": 1}, {"v": 2}, {"w": 3}]
    })
}

/// Expressions and whether they hold for [`operator_document`].
const OPERATOR_CASES: &[(&str, bool)] = &[
    // == and != : numbers numerically, strings exactly, booleans, null.
    ("@.n == 5", true),
    ("@.n == 5.0", true),
    ("@.n == 6", false),
    ("@.s == 'Sales'", true),
    ("@.s == \"sales\"", false),
    ("@.t == true", true),
    ("@.t == false", false),
    ("@.z == null", true),
    ("@.n != 6", true),
    ("@.n != 5", false),
    ("@.s != 'Sales'", false),
    ("5 == @.n", true),
    ("@.a == ['x', 'y']", true),
    ("@.a == ['y', 'x']", false),
    ("@.o == {'k': 1}", true),
    // Type mismatches: a string reads as the number it is compared with (Jayway's NumberNode
    // equality); other pairs are never equal.
    ("@.text5 == 5", true),
    ("@.n == '5'", true),
    ("@.n == '5.0'", true),
    ("@.s == 5", false),
    ("@.t == 'true'", false),
    ("@.z == 0", false),
    ("@.z == ''", false),
    ("@.a == 'x'", false),
    ("@.n === '5'", false),
    ("@.n === 5", true),
    ("@.n !== '5'", true),
    // Missing paths: equal to nothing, not even null; so != holds (Jayway: !(UNDEFINED == x)).
    ("@.missing == null", false),
    ("@.missing == 'x'", false),
    ("@.missing != 'x'", true),
    ("@.missing != null", true),
    ("@.missing.deeper == 1", false),
    ("@.z != null", false),
    // Ordering: numbers, strings lexically; a string against a number's text; else unordered.
    ("@.n > 4", true),
    ("@.n > 5", false),
    ("@.n >= 5", true),
    ("@.f < 3", true),
    ("@.f <= 2.4", false),
    ("@.s > 'Apples'", true),
    ("@.s < 'Apples'", false),
    ("@.text5 > 10", true),
    ("@.n < '10'", false),
    ("@.t > false", false),
    ("@.t < false", false),
    ("@.z < 1", false),
    ("@.missing < 1", false),
    ("@.missing >= 1", false),
    // =~ matches the whole string (Java's matcher().matches()), flags after the slash.
    ("@.s =~ /Sal.*/", true),
    ("@.s =~ /Sal/", false),
    ("@.s =~ /.*ale.*/", true),
    ("@.s =~ /sales/i", true),
    ("@.s =~ /sales/", false),
    ("@.n =~ /[0-9]+/", true),
    ("@.t =~ /tr.e/", true),
    ("@.a =~ /y/", true),
    ("@.a =~ /z/", false),
    ("@.missing =~ /.*/", false),
    ("@.z =~ /.*/", false),
    ("@.o =~ /.*/", false),
    ("/S.*/ =~ @.s", true),
    // in / nin: equality with an item of the right array.
    ("@.s in ['Sales', 'IT']", true),
    ("@.s in ['IT']", false),
    ("@.n in [4, 5]", true),
    ("@.n in ['5']", true),
    ("@.s IN ['Sales']", true),
    ("'x' in @.a", true),
    ("@.missing in ['x']", false),
    ("@.s in @.missing", false),
    ("@.s nin ['IT']", true),
    ("@.s nin ['Sales']", false),
    ("@.missing nin ['x']", true),
    ("@.s nin @.missing", false),
    // subsetof, anyof, noneof, all: arrays on both sides.
    ("@.a subsetof ['x', 'y', 'z']", true),
    ("@.a subsetof ['x']", false),
    ("@.none subsetof ['x']", true),
    ("@.s subsetof ['Sales']", false),
    ("@.a anyof ['y', 'q']", true),
    ("@.a anyof ['q']", false),
    ("@.none anyof ['x']", false),
    ("@.a noneof ['q']", true),
    ("@.a noneof ['x']", false),
    ("@.missing noneof ['x']", false),
    ("@.a all ['x']", true),
    ("@.a all ['x', 'q']", false),
    // size: a string's length or an array's item count.
    ("@.s size 5", true),
    ("@.s size 4", false),
    ("@.a size 2", true),
    ("@.none size 0", true),
    ("@.n size 1", false),
    ("@.o size 1", false),
    ("@.missing size 0", false),
    // empty: strings, arrays, objects.
    ("@.empty empty true", true),
    ("@.s empty true", false),
    ("@.s empty false", true),
    ("@.none empty true", true),
    ("@.a empty false", true),
    ("@.eo empty true", true),
    ("@.n empty false", false),
    ("@.missing empty true", false),
    ("@.missing empty false", false),
    // contains: a substring, or an array item.
    ("@.s contains 'ale'", true),
    ("@.s contains 'x'", false),
    ("@.a contains 'x'", true),
    ("@.nums contains 2", true),
    ("@.nums contains '2'", true),
    ("@.nums contains 4", false),
    ("@.n contains 5", false),
    ("@.missing contains 'x'", false),
    // Existence: present (even as null) or not; `!` negates.
    ("@.s", true),
    ("@.z", true),
    ("@.missing", false),
    ("!@.missing", true),
    ("!@.s", false),
    ("@.o.k", true),
    ("@.o.j", false),
    ("@.items[*].w", true),
    ("@.items[*].q", false),
    // Logic: && before ||, parentheses, !.
    ("@.n == 5 && @.s == 'Sales'", true),
    ("@.n == 5 && @.s == 'IT'", false),
    ("@.n == 6 || @.s == 'Sales'", true),
    ("@.n == 6 || @.s == 'IT'", false),
    ("@.n == 6 && @.s == 'IT' || @.t", true),
    ("@.n == 6 && (@.s == 'IT' || @.t)", false),
    ("!(@.n == 6)", true),
    ("!(@.n == 5)", false),
    ("!@.n == 5", false),
    ("!!(@.n == 5)", true),
    // Functions on paths.
    ("@.a.length() == 2", true),
    ("@.a.size() == 2", true),
    ("@.none.length() == 0", true),
    ("@.s.length() == 5", true),
    ("@.o.length() == 1", true),
    ("@.missing.length() == 0", false),
    ("@.nums.min() == 1", true),
    ("@.nums.max() == 3", true),
    ("@.nums.avg() == 2", true),
    ("@.nums.sum() == 6", true),
    ("@.nums.sum() > 6", false),
    ("@.nums.first() == 1", true),
    ("@.nums.last() == 3", true),
    ("@.none.min() == 0", false),
    ("@.o.keys() == ['k']", true),
    ("@.items[*].v.length() == 2", true),
    // Indices and absolute paths inside the expression.
    ("@.a[0] == 'x'", true),
    ("@.a[-1] == 'y'", true),
    ("@.a[-3] == 'x'", false),
    ("@.a[5] == 'x'", false),
    ("@.n == $.n", true),
    ("$.items[?(@.v == 2)] size 1", true),
    ("@.items[?(@.v > 5)] empty true", true),
];

#[test]
fn operators_follow_jayways_type_rules() {
    let document = operator_document();
    let mut wrong = Vec::new();
    for &(expression, expected) in OPERATOR_CASES {
        let text = format!("$[?({expression})]");
        match TriggerFilter::parse(&text) {
            Ok(filter) if filter.matches(&document) == expected => {}
            Ok(_) => wrong.push(format!("{expression}: expected {expected}")),
            Err(error) => wrong.push(format!("{expression}: {error}")),
        }
    }
    assert!(wrong.is_empty(), "{} of {} cases:\n{}", wrong.len(), OPERATOR_CASES.len(), wrong.join("\n"));
}
