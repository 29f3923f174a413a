//! The shape rules of a `#[step]` function. Every rule runs, so one compile shows every
//! mistake, each spanned at the token that breaks it.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{GenericArgument, PathArguments, ReturnType, Type, TypeImplTrait};

use crate::ast::{Arg, ContextBy, Step};
use crate::ctxt::Ctxt;

/// Message for generic parameters, a where clause or `impl Trait` in argument position.
pub(crate) const GENERICS: &str =
    "#[step] does not support generic parameters; write a concrete function or use `step_fn`";

/// Records in `cx` every rule that `step` breaks.
pub(crate) fn check(cx: &Ctxt, step: &Step) {
    check_qualifiers(cx, step);
    check_generics(cx, step);
    check_args(cx, step);
    check_output(cx, step);
}

/// `const`, `unsafe`, `extern "abi"` and `...`: a step is an ordinary Rust function.
fn check_qualifiers(cx: &Ctxt, step: &Step) {
    let sig = &step.func.sig;
    if let Some(constness) = &sig.constness {
        cx.error_spanned_by(constness, "#[step] cannot be used on a `const fn`");
    }
    if let Some(unsafety) = &sig.unsafety {
        cx.error_spanned_by(
            unsafety,
            "#[step] cannot be used on an `unsafe fn`; make the function safe and use an `unsafe` block inside",
        );
    }
    if let Some(abi) = &sig.abi {
        cx.error_spanned_by(
            abi,
            "#[step] cannot be used on an `extern` function; remove the ABI",
        );
    }
    if let Some(variadic) = &sig.variadic {
        cx.error_spanned_by(variadic, "#[step] cannot be used on a variadic function");
    }
}

/// A step is one concrete type: no lifetime, type or const parameters, no where clause.
fn check_generics(cx: &Ctxt, step: &Step) {
    let generics = &step.func.sig.generics;
    if !generics.params.is_empty() {
        cx.error_spanned_by(generics, GENERICS);
    } else if let Some(where_clause) = &generics.where_clause {
        cx.error_spanned_by(where_clause, GENERICS);
    }
    // `impl Trait` in argument position is a hidden type parameter.
    for input in step.inputs() {
        if let Some(impl_trait) = find_impl_trait(&input.ty) {
            cx.error_spanned_by(impl_trait, GENERICS);
        }
    }
}

/// No receiver; `&StepContext` only first and once; at most one input.
fn check_args(cx: &Ctxt, step: &Step) {
    let mut first = true;
    for arg in &step.args {
        match arg {
            Arg::Receiver(receiver) => {
                cx.error_spanned_by(
                    receiver,
                    "#[step] cannot be used on a method taking `self`; use a free function",
                );
                // The receiver is already an error: do not also call the argument after
                // it misplaced.
                continue;
            }
            Arg::Context(arg, by) => {
                if !first {
                    cx.error_spanned_by(
                        arg,
                        "the `&StepContext` argument must come first, and only once",
                    );
                } else if *by == ContextBy::RefMut {
                    cx.error_spanned_by(
                        &arg.ty,
                        "the step context is shared: take it as `&StepContext`, not `&mut StepContext`",
                    );
                } else if *by == ContextBy::Value {
                    cx.error_spanned_by(
                        &arg.ty,
                        "take the step context by reference: `&StepContext`",
                    );
                }
            }
            Arg::Input(_) => {}
        }
        first = false;
    }

    let inputs: Vec<_> = step.inputs().collect();
    if inputs.len() > 1 {
        let extra: TokenStream = inputs[1..].iter().map(ToTokens::to_token_stream).collect();
        cx.error_spanned_by(
            extra,
            format!(
                "a step takes one input argument, found {}; pass a tuple or a struct to give it more",
                inputs.len()
            ),
        );
    }
}

/// The output is a named type: `impl Trait` cannot be an associated type.
fn check_output(cx: &Ctxt, step: &Step) {
    if let ReturnType::Type(_, ty) = &step.func.sig.output
        && let Some(impl_trait) = find_impl_trait(ty)
    {
        cx.error_spanned_by(
            impl_trait,
            "#[step] cannot return `impl Trait`; name the output type",
        );
    }
}

/// The first `impl Trait` inside `ty`, if any.
fn find_impl_trait(ty: &Type) -> Option<&TypeImplTrait> {
    match ty {
        Type::ImplTrait(impl_trait) => Some(impl_trait),
        Type::Array(t) => find_impl_trait(&t.elem),
        Type::Slice(t) => find_impl_trait(&t.elem),
        Type::Ptr(t) => find_impl_trait(&t.elem),
        Type::Reference(t) => find_impl_trait(&t.elem),
        Type::Paren(t) => find_impl_trait(&t.elem),
        Type::Group(t) => find_impl_trait(&t.elem),
        Type::Tuple(t) => t.elems.iter().find_map(find_impl_trait),
        Type::Path(t) => t
            .qself
            .iter()
            .map(|qself| &*qself.ty)
            .find_map(find_impl_trait)
            .or_else(|| {
                t.path
                    .segments
                    .iter()
                    .find_map(|segment| match &segment.arguments {
                        PathArguments::None => None,
                        PathArguments::AngleBracketed(args) => {
                            args.args.iter().find_map(|arg| match arg {
                                GenericArgument::Type(ty) => find_impl_trait(ty),
                                GenericArgument::AssocType(assoc) => find_impl_trait(&assoc.ty),
                                _ => None,
                            })
                        }
                        PathArguments::Parenthesized(args) => args
                            .inputs
                            .iter()
                            .find_map(find_impl_trait)
                            .or(match &args.output {
                                ReturnType::Default => None,
                                ReturnType::Type(_, ty) => find_impl_trait(ty),
                            }),
                    })
            }),
        _ => None,
    }
}
