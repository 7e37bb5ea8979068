//! The shared implementation of `#[weft::main]` and `#[weft::test]`: parse
//! the arguments and the `async fn`, then rewrite it into a plain `fn` that
//! builds a runtime and blocks on the body.

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned, ToTokens};
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{
    AttrStyle, Attribute, Expr, ExprLit, FnArg, Lit, Meta, PatType, Path, ReturnType, Signature,
    Token,
};

/// Which macro is expanding.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Main,
    Test,
}

impl Kind {
    /// How the attribute is written, for messages: `weft::main`.
    fn path(self) -> &'static str {
        match self {
            Kind::Main => "weft::main",
            Kind::Test => "weft::test",
        }
    }

    /// `main` runs on the multi-thread runtime, tests on the current-thread
    /// one (as Tokio's macros do).
    fn default_flavor(self) -> Flavor {
        match self {
            Kind::Main => Flavor::MultiThread,
            Kind::Test => Flavor::CurrentThread,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    CurrentThread,
    MultiThread,
}

/// The arguments, checked.
struct Config {
    flavor: Flavor,
    worker_threads: Option<usize>,
    start_paused: bool,
    crate_path: Option<Path>,
}

impl Config {
    fn default_for(kind: Kind) -> Config {
        Config {
            flavor: kind.default_flavor(),
            worker_threads: None,
            start_paused: false,
            crate_path: None,
        }
    }
}

const ARGUMENTS: &str = "`flavor`, `worker_threads`, `start_paused`, `crate`";

/// A function whose body is kept as tokens: a syntax error in the body is
/// then reported by rustc on the expanded code instead of failing the whole
/// macro, and IDEs keep working inside it.
struct ItemFn {
    attrs: Vec<Attribute>,
    vis: syn::Visibility,
    sig: Signature,
    brace: syn::token::Brace,
    body: TokenStream,
}

impl Parse for ItemFn {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig = input.parse()?;
        let content;
        let brace = syn::braced!(content in input);
        // Inner attributes (`#![allow(..)]`) cannot stay at the top of an
        // `async` block; they become attributes of the function.
        for mut attr in content.call(Attribute::parse_inner)? {
            attr.style = AttrStyle::Outer;
            attrs.push(attr);
        }
        let body = content.parse()?;
        Ok(ItemFn { attrs, vis, sig, brace, body })
    }
}

/// Expands `#[weft::main]` or `#[weft::test]`.
pub(crate) fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let item_fn: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(e) => {
            // Not a function: keep the item so that the only error is ours.
            let err = e.into_compile_error();
            return quote! { #err #item };
        }
    };
    match check(kind, &item_fn, args) {
        Ok(config) => rewrite(kind, item_fn, &config),
        Err(e) => {
            // Still expand (with the defaults) so that the function exists
            // and no follow-on errors bury the real one.
            let err = e.into_compile_error();
            let mut item_fn = without_params(item_fn);
            if kind == Kind::Test {
                // Reported: keep rustc from warning about it too.
                item_fn.attrs.retain(|a| !is_test_attribute(a));
            }
            let item = rewrite(kind, item_fn, &Config::default_for(kind));
            quote! { #err #item }
        }
    }
}

/// For the expansion after an error: moves the parameters (already
/// reported) into the body as `let` bindings that never run, so that neither
/// rustc (`main` has the wrong type, tests take no arguments) nor uses of the
/// parameters in the body add errors of their own.
fn without_params(mut item: ItemFn) -> ItemFn {
    let params = std::mem::take(&mut item.sig.inputs);
    if params.is_empty() {
        return item;
    }
    let lets = params.iter().filter_map(|param| match param {
        FnArg::Typed(PatType { pat, ty, .. }) => {
            Some(quote! { let #pat: #ty = ::core::unreachable!(); })
        }
        FnArg::Receiver(_) => None,
    });
    let body = item.body;
    item.body = quote! { #(#lets)* #body };
    let allow =
        Attribute::parse_outer.parse2(quote! { #[allow(unreachable_code, unused_variables)] });
    item.attrs.extend(allow.into_iter().flatten());
    item
}

/// Pushes `e` into `errors`, combining with any earlier one.
fn push(errors: &mut Option<syn::Error>, e: syn::Error) {
    match errors {
        Some(first) => first.combine(e),
        None => *errors = Some(e),
    }
}

/// Checks the function's shape and parses the arguments; reports every
/// problem found, each spanned on its token.
fn check(kind: Kind, item: &ItemFn, args: TokenStream) -> syn::Result<Config> {
    let mut errors = None;
    let sig = &item.sig;
    if sig.asyncness.is_none() {
        let msg = "the `async` keyword is missing from the function declaration";
        push(&mut errors, syn::Error::new(sig.fn_token.span, msg));
    }
    if !sig.inputs.is_empty() {
        let msg = match kind {
            Kind::Main => "the `#[weft::main]` function cannot accept arguments",
            Kind::Test => "`#[weft::test]` functions cannot accept arguments",
        };
        push(&mut errors, syn::Error::new_spanned(&sig.inputs, msg));
    }
    if kind == Kind::Test {
        if let Some(attr) = item.attrs.iter().find(|a| is_test_attribute(a)) {
            let msg = "a second test attribute is supplied; `#[weft::test]` already adds `#[test]`";
            push(&mut errors, syn::Error::new_spanned(attr, msg));
        }
    }
    let config = Punctuated::<Meta, Token![,]>::parse_terminated
        .parse2(args)
        .and_then(|metas| parse_args(kind, metas));
    match (config, errors) {
        (Ok(config), None) => Ok(config),
        (Ok(_), Some(e)) | (Err(e), None) => Err(e),
        (Err(e), Some(mut first)) => {
            first.combine(e);
            Err(first)
        }
    }
}

/// `#[test]`, `#[core::prelude::v1::test]`, `#[::std::prelude::rust_2021::test]`.
fn is_test_attribute(attr: &Attribute) -> bool {
    let segments: Vec<String> = attr.path().segments.iter().map(|s| s.ident.to_string()).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    matches!(segments.as_slice(), ["test"] | ["core" | "std", "prelude", _, "test"])
}

fn parse_args(kind: Kind, metas: Punctuated<Meta, Token![,]>) -> syn::Result<Config> {
    let mut errors = None;
    let mut flavor: Option<Flavor> = None;
    // The count, and the argument's tokens for error spans.
    let mut worker_threads: Option<(usize, TokenStream)> = None;
    let mut crate_path: Option<Path> = None;
    // The value, and the argument's tokens for error spans.
    let mut start_paused: Option<(bool, TokenStream)> = None;

    for meta in metas {
        let name = meta.path().get_ident().map(|i| i.to_string()).unwrap_or_default();
        let nv = match (&meta, name.as_str()) {
            (Meta::NameValue(nv), "flavor" | "worker_threads" | "start_paused" | "crate") => nv,
            (_, "flavor" | "worker_threads" | "start_paused" | "crate") => {
                let example = match name.as_str() {
                    "flavor" => "flavor = \"multi_thread\"",
                    "worker_threads" => "worker_threads = 4",
                    "start_paused" => "start_paused = true",
                    _ => "crate = \"path::to::weft\"",
                };
                let msg = format!("`{name}` takes a value, like `{example}`");
                push(&mut errors, syn::Error::new_spanned(&meta, msg));
                continue;
            }
            (Meta::Path(_), "multi_thread" | "current_thread") => {
                let msg = format!(
                    "set the runtime flavor with `#[{}(flavor = \"{name}\")]`",
                    kind.path()
                );
                push(&mut errors, syn::Error::new_spanned(meta.path(), msg));
                continue;
            }
            _ => {
                let shown = meta.path().to_token_stream().to_string().replace(' ', "");
                let msg = format!("unknown argument `{shown}`; expected one of: {ARGUMENTS}");
                push(&mut errors, syn::Error::new_spanned(meta.path(), msg));
                continue;
            }
        };
        match name.as_str() {
            "flavor" => {
                let parsed = match &nv.value {
                    Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => match s.value().as_str() {
                        "current_thread" => Ok(Flavor::CurrentThread),
                        "multi_thread" => Ok(Flavor::MultiThread),
                        other => Err(format!(
                            "unknown runtime flavor `{other}`; the flavors are \
                             `current_thread` and `multi_thread`"
                        )),
                    },
                    _ => Err("`flavor` must be a string: `\"current_thread\"` or \
                                 `\"multi_thread\"`"
                        .to_owned()),
                };
                match parsed {
                    _ if flavor.is_some() => {
                        push(&mut errors, set_twice(&meta, "flavor"));
                    }
                    Ok(f) => flavor = Some(f),
                    Err(msg) => push(&mut errors, syn::Error::new_spanned(&nv.value, msg)),
                }
            }
            "worker_threads" => {
                let parsed = match &nv.value {
                    Expr::Lit(ExprLit { lit: Lit::Int(int), .. }) => {
                        match int.base10_parse::<usize>() {
                            Ok(0) => Err("`worker_threads` must be at least 1".to_owned()),
                            Ok(n) => Ok(n),
                            Err(e) => Err(format!("`worker_threads` is not a valid count: {e}")),
                        }
                    }
                    _ => Err("`worker_threads` must be an integer literal, like \
                              `worker_threads = 4`"
                        .to_owned()),
                };
                match parsed {
                    _ if worker_threads.is_some() => {
                        push(&mut errors, set_twice(&meta, "worker_threads"));
                    }
                    Ok(n) => worker_threads = Some((n, meta.to_token_stream())),
                    Err(msg) => push(&mut errors, syn::Error::new_spanned(&nv.value, msg)),
                }
            }
            "start_paused" => match &nv.value {
                _ if start_paused.is_some() => push(&mut errors, set_twice(&meta, "start_paused")),
                Expr::Lit(ExprLit { lit: Lit::Bool(b), .. }) => {
                    start_paused = Some((b.value, meta.to_token_stream()));
                }
                other => {
                    let msg = "`start_paused` must be `true` or `false`";
                    push(&mut errors, syn::Error::new_spanned(other, msg));
                }
            },
            _ => {
                let parsed = match &nv.value {
                    Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => {
                        s.parse::<Path>().map_err(|_| {
                            syn::Error::new_spanned(
                                s,
                                "`crate` must be a path, like `\"my_crate::weft\"`",
                            )
                        })
                    }
                    other => Err(syn::Error::new_spanned(
                        other,
                        "`crate` must be a path in a string, like `crate = \"my_crate::weft\"`",
                    )),
                };
                match parsed {
                    _ if crate_path.is_some() => push(&mut errors, set_twice(&meta, "crate")),
                    Ok(p) => crate_path = Some(p),
                    Err(e) => push(&mut errors, e),
                }
            }
        }
    }

    let explicit = flavor.is_some();
    let flavor = flavor.unwrap_or(kind.default_flavor());
    if let (Some((_, tokens)), Flavor::CurrentThread) = (&worker_threads, flavor) {
        let msg = if explicit {
            "`worker_threads` cannot be used with `flavor = \"current_thread\"`: that runtime \
             runs every task on the calling thread"
                .to_owned()
        } else {
            format!(
                "`worker_threads` needs the multi-thread runtime (tests run on the current-thread \
                 one by default); add `flavor = \"multi_thread\"`: \
                 `#[{}(flavor = \"multi_thread\", {tokens})]`",
                kind.path(),
            )
        };
        push(&mut errors, syn::Error::new_spanned(tokens, msg));
    }
    if let (Some((true, tokens)), Flavor::MultiThread) = (&start_paused, flavor) {
        let msg = format!(
            "`start_paused` needs the current-thread runtime: a multi-thread runtime's clock \
             cannot be paused; use `#[{}(flavor = \"current_thread\", start_paused = true)]`",
            kind.path(),
        );
        push(&mut errors, syn::Error::new_spanned(tokens, msg));
    }
    match errors {
        Some(e) => Err(e),
        None => Ok(Config {
            flavor,
            worker_threads: worker_threads.map(|(n, _)| n),
            start_paused: start_paused.is_some_and(|(paused, _)| paused),
            crate_path,
        }),
    }
}

fn set_twice(meta: &Meta, name: &str) -> syn::Error {
    syn::Error::new_spanned(meta, format!("`{name}` is set more than once"))
}

/// The first and last token of the body's last statement (tokens after the
/// last top-level `;`, or the statement that `;` ends).
fn last_statement_span(body: &TokenStream) -> Option<(Span, Span)> {
    let tokens: Vec<TokenTree> = body.clone().into_iter().collect();
    let is_semi = |tt: &TokenTree| matches!(tt, TokenTree::Punct(p) if p.as_char() == ';');
    let end = tokens.len().checked_sub(1)?;
    let start = tokens[..end].iter().rposition(is_semi).map_or(0, |i| i + 1);
    Some((tokens[start].span(), tokens[end].span()))
}

/// The expansion: the same function, not `async`, whose body is an
/// `async move` block (the user's tokens, spans intact) handed to
/// `Runtime::block_on`.
fn rewrite(kind: Kind, item: ItemFn, config: &Config) -> TokenStream {
    let ItemFn { attrs, vis, mut sig, brace, body } = item;
    // The `async move` block is spanned on the fn's `async`, so messages
    // name it `{async block@<the fn's line>}`.
    let async_span = sig.asyncness.take().map_or_else(Span::call_site, |a| a.span);
    let async_move = quote_spanned! {async_span=> async move };

    // Errors about the body's value (a type that does not match the return
    // type) point at the body's last statement, as they would in a plain fn:
    // the `block_on` call is spanned from its first token to its last.
    let (start, end) =
        last_statement_span(&body).unwrap_or((brace.span.open(), brace.span.close()));

    let mut block = Group::new(Delimiter::Brace, body);
    block.set_span(brace.span.join());

    // Resolution errors in the path point at the attribute (or at the
    // `crate = "..."` string).
    let krate = match &config.crate_path {
        Some(path) => path.to_token_stream(),
        None => quote! { ::weft },
    };
    let new = match config.flavor {
        Flavor::CurrentThread => quote! { new_current_thread },
        Flavor::MultiThread => quote! { new_multi_thread },
    };
    let builder = quote_spanned! {start=> builder };
    let worker_threads = config.worker_threads.map(|n| {
        let n = proc_macro2::Literal::usize_unsuffixed(n);
        quote_spanned! {end=> .worker_threads(#n) }
    });
    let start_paused = config.start_paused.then(|| quote_spanned! {end=> .start_paused(true) });
    let run = quote_spanned! {end=>
        let mut #builder = #krate::runtime::Builder::#new();
        #[allow(
            clippy::expect_used,
            clippy::diverging_sub_expression,
            clippy::needless_return,
            clippy::unwrap_in_result
        )]
        {
            return #builder
                #worker_threads
                #start_paused
                .enable_all()
                .build()
                .expect("failed to build the weft runtime")
                .block_on(body);
        }
    };

    match kind {
        Kind::Main => quote! {
            #(#attrs)*
            #vis #sig {
                let body = #async_move #block;
                #run
            }
        },
        Kind::Test => {
            // Block on a `Pin<&mut dyn Future>`: one `block_on` instance for
            // all the tests of a crate instead of one per test.
            let output = match &sig.output {
                ReturnType::Default => quote! { () },
                ReturnType::Type(_, ty) => ty.to_token_stream(),
            };
            let test_attr = quote! { #[::core::prelude::v1::test] };
            // The cast (an unsizing coercion) is spanned on the last
            // statement: a body of the wrong type is reported there.
            // (`identity(body)` rather than `body`: an expression that spans
            // from `start` to `end`.)
            let body_start = quote_spanned! {start=> ::core::convert::identity };
            let pin = quote_spanned! {end=>
                let body = ::core::pin::pin!(body);
                #[allow(clippy::as_conversions)]
                let body = #body_start(body)
                    as ::core::pin::Pin<&mut dyn ::core::future::Future<Output = #output>>;
            };
            quote! {
                #test_attr
                #(#attrs)*
                #vis #sig {
                    let body = #async_move #block;
                    #pin
                    #run
                }
            }
        }
    }
}
