//! What `#[step]` was given: its arguments and the function, sorted into the parts the
//! expansion needs (step context, input, kind of return type).
//!
//! Parsing records what it sees without judging the function's shape; `check.rs` does
//! that. Only mistakes that stop parsing (bad arguments, an item that is not a function)
//! are reported here.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::ext::IdentExt as _;
use syn::parse::Parser as _;
use syn::punctuated::Punctuated;
use syn::{Expr, FnArg, Item, ItemFn, Lit, Meta, PatType, Receiver, ReturnType, Token, Type};

use crate::ctxt::Ctxt;

/// A `#[step]` function.
pub(crate) struct Step {
    /// The step name: the `name = "..."` argument, or the function's name.
    pub(crate) name: String,
    /// The function as written.
    pub(crate) func: ItemFn,
    /// Its arguments, in order.
    pub(crate) args: Vec<Arg>,
    /// What it returns.
    pub(crate) output: Output,
}

/// One argument of a `#[step]` function.
pub(crate) enum Arg {
    /// `self`, `&self`, ...: not allowed.
    Receiver(Receiver),
    /// An argument whose type is `StepContext` (through a path ending in it), by
    /// reference or not. Allowed only first and as `&StepContext`.
    Context(PatType, ContextBy),
    /// The step's input.
    Input(PatType),
}

/// How an [`Arg::Context`] is taken.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ContextBy {
    /// `&StepContext`: the only allowed form.
    Ref,
    /// `&mut StepContext`.
    RefMut,
    /// `StepContext`.
    Value,
}

/// The return type of a `#[step]` function.
pub(crate) enum Output {
    /// No return type, or `()`: the step outputs `()`.
    Unit,
    /// Any other type that is not a `Result`: the step's output, the step never fails.
    Value(Type),
    /// A type whose last path segment is `Result`: `Ok` is the output, `Err` becomes an
    /// `Error`.
    Fallible(Type),
}

impl Step {
    /// Parses the attribute arguments `args` and the item `item`. Returns `None`, with
    /// the reason recorded in `cx`, when the item is not a function.
    pub(crate) fn from_ast(cx: &Ctxt, args: TokenStream, item: TokenStream) -> Option<Step> {
        // Arguments first, and whatever the item is, so that both kinds of mistake show.
        let name = parse_args(cx, args);
        let func = match syn::parse2::<Item>(item) {
            Ok(Item::Fn(func)) => func,
            Ok(other) => {
                cx.error_spanned_by(item_head(&other), "#[step] applies to a function");
                return None;
            }
            Err(err) => {
                cx.syn_error(err);
                return None;
            }
        };
        let name = name.unwrap_or_else(|| func.sig.ident.unraw().to_string());
        let mut args = Vec::with_capacity(func.sig.inputs.len());
        for arg in &func.sig.inputs {
            args.push(match arg {
                FnArg::Receiver(receiver) => Arg::Receiver(receiver.clone()),
                FnArg::Typed(typed) => match context_by(&typed.ty) {
                    Some(by) => Arg::Context(typed.clone(), by),
                    None => Arg::Input(typed.clone()),
                },
            });
        }
        let output = match &func.sig.output {
            ReturnType::Default => Output::Unit,
            ReturnType::Type(_, ty) => match ungroup(ty) {
                Type::Tuple(tuple) if tuple.elems.is_empty() => Output::Unit,
                Type::Path(path)
                    if path.qself.is_none()
                        && path
                            .path
                            .segments
                            .last()
                            .is_some_and(|s| s.ident == "Result") =>
                {
                    Output::Fallible((**ty).clone())
                }
                _ => Output::Value((**ty).clone()),
            },
        };
        Some(Step {
            name,
            func,
            args,
            output,
        })
    }

    /// The `&StepContext` argument, when it is the first argument.
    pub(crate) fn context(&self) -> Option<&PatType> {
        match self.args.first() {
            Some(Arg::Context(arg, _)) => Some(arg),
            _ => None,
        }
    }

    /// The input argument (the first one, when there are several).
    pub(crate) fn input(&self) -> Option<&PatType> {
        self.inputs().next()
    }

    /// Every argument that is neither a receiver nor a step context.
    pub(crate) fn inputs(&self) -> impl Iterator<Item = &PatType> {
        self.args.iter().filter_map(|arg| match arg {
            Arg::Input(input) => Some(input),
            _ => None,
        })
    }

    /// Whether the function is an `async fn`.
    pub(crate) fn is_async(&self) -> bool {
        self.func.sig.asyncness.is_some()
    }
}

/// Parses `name = "..."`, the only argument. Returns the name when it was given and valid.
fn parse_args(cx: &Ctxt, args: TokenStream) -> Option<String> {
    if args.is_empty() {
        return None;
    }
    let metas = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args) {
        Ok(metas) => metas,
        Err(err) => {
            cx.syn_error(err);
            return None;
        }
    };
    let mut name = None;
    let mut seen_name = false;
    for meta in metas {
        match &meta {
            Meta::NameValue(nv) if nv.path.is_ident("name") => {
                let Expr::Lit(syn::ExprLit {
                    lit: Lit::Str(lit), ..
                }) = &nv.value
                else {
                    cx.error_spanned_by(&nv.value, "expected a string literal: `name = \"...\"`");
                    continue;
                };
                if seen_name {
                    cx.error_spanned_by(&meta, "duplicate #[step] argument `name`");
                    continue;
                }
                seen_name = true;
                let value = lit.value();
                if value.trim().is_empty() {
                    cx.error_spanned_by(lit, "a step name cannot be empty");
                } else {
                    name = Some(value);
                }
            }
            Meta::Path(path) | Meta::List(syn::MetaList { path, .. }) if path.is_ident("name") => {
                cx.error_spanned_by(&meta, "expected `name = \"...\"`");
            }
            _ => {
                let path = meta.path();
                let shown = path.to_token_stream().to_string().replace(' ', "");
                cx.error_spanned_by(
                    path,
                    format!("unknown #[step] argument `{shown}`; expected `name = \"...\"`"),
                );
            }
        }
    }
    name
}

/// How `ty` takes a `StepContext`, or `None` when it is not one.
///
/// Matches by the last path segment, as a macro cannot resolve names: `StepContext`,
/// `waypost::StepContext`, each behind `&`, `&mut` or nothing.
fn context_by(ty: &Type) -> Option<ContextBy> {
    let (inner, by) = match ungroup(ty) {
        Type::Reference(r) if r.mutability.is_some() => (&*r.elem, ContextBy::RefMut),
        Type::Reference(r) => (&*r.elem, ContextBy::Ref),
        other => (other, ContextBy::Value),
    };
    match ungroup(inner) {
        Type::Path(path)
            if path.qself.is_none()
                && path
                    .path
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "StepContext" && s.arguments.is_none()) =>
        {
            Some(by)
        }
        _ => None,
    }
}

/// `ty` without invisible groups (from `macro_rules!`) and parentheses.
pub(crate) fn ungroup(mut ty: &Type) -> &Type {
    loop {
        match ty {
            Type::Group(group) => ty = &group.elem,
            Type::Paren(paren) => ty = &paren.elem,
            _ => return ty,
        }
    }
}

/// The tokens to point at when `#[step]` sits on an item that is not a function: its
/// keyword and name where it has them, so the error is not the whole item.
fn item_head(item: &Item) -> TokenStream {
    match item {
        Item::Struct(i) => head(i.struct_token, &i.ident),
        Item::Enum(i) => head(i.enum_token, &i.ident),
        Item::Union(i) => head(i.union_token, &i.ident),
        Item::Trait(i) => head(i.trait_token, &i.ident),
        Item::Mod(i) => head(i.mod_token, &i.ident),
        Item::Const(i) => head(i.const_token, &i.ident),
        Item::Static(i) => head(i.static_token, &i.ident),
        Item::Type(i) => head(i.type_token, &i.ident),
        Item::Impl(i) => head(i.impl_token, &i.self_ty),
        other => other.to_token_stream(),
    }
}

fn head(keyword: impl ToTokens, name: impl ToTokens) -> TokenStream {
    quote!(#keyword #name)
}
