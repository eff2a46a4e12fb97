//! Manifests come from Rust signatures: types by trait, optionality,
//! variadics, error returns, doc comments, overrides.

use luamod::types::{FunctionDecl, Type, TypeDef, luals};

fn probe(name: &str) -> FunctionDecl {
    luamod_tests::probe::MODULE
        .manifest()
        .functions
        .into_iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn parameters_and_returns_follow_the_rust_types() {
    let rep = probe("rep");
    let params: Vec<(&str, &Type, bool)> = rep
        .sig
        .params
        .iter()
        .map(|p| (p.name.as_str(), &p.ty, p.optional))
        .collect();
    assert_eq!(
        params,
        vec![
            ("s", &Type::String, false),
            ("n", &Type::Integer, false),
            ("sep", &Type::String.optional(), true),
        ]
    );
    assert_eq!(rep.sig.returns, vec![Type::String]);
    assert_eq!(rep.doc, "As `string.rep(s, n [, sep])`.");

    let fail = probe("fail");
    assert_eq!(
        fail.sig.returns,
        vec![Type::Integer.optional(), Type::Error.optional()]
    );
    let sum = probe("sum");
    assert_eq!(
        (sum.sig.params.len(), sum.sig.variadic.clone()),
        (0, Some(Type::Number))
    );
    let mixed = probe("mixed");
    assert_eq!(
        mixed.sig.returns,
        vec![Type::Number, Type::Boolean, Type::Integer]
    );
    assert!(
        mixed.sig.params[2].optional,
        "defaulted parameters are optional"
    );
    assert_eq!(probe("nothing").sig.returns, vec![]);
    assert_eq!(
        probe("pair").sig.returns,
        vec![Type::Table],
        "mlua::Result<T> types as T"
    );
    assert!(probe("renamed").sig.returns == vec![Type::String]);
}

#[test]
fn overrides_argument_docs_and_keyword_names() {
    let upto = probe("upto");
    assert_eq!(upto.doc, "Slices a list.");
    assert_eq!(upto.sig.params[0].ty, Type::String.array());
    assert_eq!(upto.sig.params[0].doc, "the list to slice");
    assert_eq!(upto.sig.params[1].name, "r#end");
    assert_eq!(upto.sig.returns, vec![Type::String.array()]);
    let m = luamod_tests::probe::MODULE.manifest();
    let stub = &luals::write_all(&[m])[0].1;
    assert!(
        stub.contains("---@param end_ integer last index (inclusive); a Lua keyword as a name\n"),
        "{stub}"
    );
    assert!(
        stub.contains("function probe.upto(items, end_) end"),
        "{stub}"
    );
}

#[test]
fn userdata_and_records_become_named_types() {
    let m = luamod_tests::objects::MODULE.manifest();
    let names: Vec<&str> = m.types.iter().map(TypeDef::name).collect();
    assert!(names.contains(&"objects.Tracked"), "{names:?}");
    assert!(names.contains(&"objects.Config"), "{names:?}");
    assert!(names.contains(&"objects.Endpoint"), "{names:?}");
    let Some(TypeDef::Record { fields, .. }) =
        m.types.iter().find(|t| t.name() == "objects.Config")
    else {
        panic!("Config is a record")
    };
    let f: Vec<(&str, String, bool)> = fields
        .iter()
        .map(|f| (f.name.as_str(), f.ty.to_string(), f.optional))
        .collect();
    assert_eq!(
        f,
        vec![
            ("name", "string".into(), false),
            ("primary", "objects.Endpoint".into(), false),
            ("backups", "objects.Endpoint[]".into(), false),
            ("retries", "integer".into(), true),
            ("labels", "table<string, string>".into(), true),
        ]
    );
    let Some(TypeDef::Interface {
        fields,
        methods,
        metamethods,
        statics,
        ..
    }) = m.types.iter().find(|t| t.name() == "objects.Tracked")
    else {
        panic!("Tracked is an interface")
    };
    assert_eq!(fields.len(), 1);
    assert!(!fields[0].readonly);
    let meta: Vec<&str> = metamethods.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(
        meta,
        [
            "__lt", "__le", "__call", "__unm", "__add", "__index", "__close"
        ]
    );
    assert_eq!(statics.len(), 1);
    assert!(methods.iter().any(|x| x.name == "with_mut"));
}
