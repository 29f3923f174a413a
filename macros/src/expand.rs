//! Generates the unit struct, its `call` function and its `Step` (and `SyncStep`) impls
//! from a checked [`Step`].
//!
//! Every path goes through `::waypost::__private`, so the expansion works whatever the
//! user imported, and the trait impls sit in `const _: () = { ... };` so that they add no
//! names to the user's module.

use proc_macro2::{Ident, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned as _;
use syn::{AttrStyle, Attribute, parse_quote};

use crate::ast::{Output, Step};
use crate::check;
use crate::ctxt::Ctxt;

/// The whole `#[step]` attribute: parse, check, generate. On any mistake, the function
/// as written followed by one `compile_error!` per mistake, so that IDEs still see it.
pub(crate) fn step(args: TokenStream, item: TokenStream) -> TokenStream {
    match parse(args, item.clone()) {
        Ok(step) => expand(&step),
        Err(errors) => {
            let mut out = item;
            out.extend(errors.into_compile_error());
            out
        }
    }
}

/// Parses and checks, collecting every mistake into one error.
pub(crate) fn parse(args: TokenStream, item: TokenStream) -> syn::Result<Step> {
    let cx = Ctxt::new();
    let step = Step::from_ast(&cx, args, item);
    if let Some(step) = &step {
        check::check(&cx, step);
    }
    cx.check()?;
    Ok(step.expect("a step that failed to parse recorded an error"))
}

/// The expansion of a checked step.
fn expand(step: &Step) -> TokenStream {
    let func = &step.func;
    let ident = &func.sig.ident;
    let vis = &func.vis;
    let name = &step.name;

    let (cfgs, docs, rest) = split_attrs(&func.attrs);
    let docs = if docs.is_empty() {
        let line = format!(" The `{name}` step.");
        quote!(#[doc = #line])
    } else {
        quote!(#(#docs)*)
    };

    // The function as written, renamed `call`; `ItemFn` prints inner attributes
    // (`#![allow(..)]`) inside the body.
    let mut call_fn = func.clone();
    call_fn.sig.ident = Ident::new("call", ident.span());
    call_fn.attrs = vec![
        parse_quote! {
            /// Calls the function directly, outside any workflow (no checkpoint, no retry).
        },
        parse_quote! {
            #[allow(
                clippy::needless_pass_by_value,
                reason = "a step's input is owned: it comes from the previous step or a checkpoint"
            )]
        },
    ];
    // The user's attributes last, so that their lint levels win over ours.
    call_fn.attrs.extend(rest.into_iter().cloned());

    let input_ty = match step.input() {
        Some(input) => input.ty.to_token_stream(),
        None => quote!(()),
    };
    let output_ty = match &step.output {
        Output::Unit => quote!(()),
        Output::Value(ty) => ty.to_token_stream(),
        // Spanned at the return type, so that a `Result` that is not
        // `core::result::Result` is reported there.
        Output::Fallible(ty) => {
            quote_spanned!(ty.span()=> <#ty as ::waypost::__private::StepResult>::Ok)
        }
    };

    let trait_impls = if step.is_async() {
        async_impl(step, &input_ty, &output_ty)
    } else {
        sync_impls(step, &input_ty, &output_ty)
    };

    quote! {
        #(#cfgs)*
        #docs
        #[allow(non_camel_case_types)]
        #[derive(
            ::core::clone::Clone,
            ::core::marker::Copy,
            ::core::fmt::Debug,
            ::core::default::Default,
        )]
        #vis struct #ident;

        #(#cfgs)*
        impl #ident {
            #call_fn
        }

        #(#cfgs)*
        const _: () = {
            #trait_impls
        };
    }
}

/// `Step` for an `async fn`: runs the function as a task.
fn async_impl(step: &Step, input_ty: &TokenStream, output_ty: &TokenStream) -> TokenStream {
    let ident = &step.func.sig.ident;
    let name = &step.name;
    let (cx_param, input_param, args) = call_args(step, true);
    let body = wrap_output(step, &quote!(#ident::call(#args).await));
    step_impl(
        step,
        input_ty,
        output_ty,
        &quote! {
            ::waypost::__private::run_task(
                __waypost_cx,
                #name,
                __waypost_input,
                move |#cx_param: ::waypost::__private::StepContext, #input_param: Self::Input| async move {
                    #body
                },
            )
        },
    )
}

/// `SyncStep` and `Step` for a plain `fn`: `call_sync` calls the function on the
/// calling thread (`par_map` calls it on the CPU pool), and `run` sends that call to the
/// CPU pool through `run_sync_task`, which clones the unit struct into the job.
fn sync_impls(step: &Step, input_ty: &TokenStream, output_ty: &TokenStream) -> TokenStream {
    let ident = &step.func.sig.ident;
    let (cx_param, input_param, args) = call_args(step, false);
    let body = wrap_output(step, &quote!(#ident::call(#args)));
    let step_impl = step_impl(
        step,
        input_ty,
        output_ty,
        &quote!(::waypost::__private::run_sync_task(
            self,
            __waypost_cx,
            __waypost_input
        )),
    );
    quote! {
        impl ::waypost::__private::SyncStep for #ident {
            fn call_sync(
                &self,
                #cx_param: &::waypost::__private::StepContext,
                #input_param: Self::Input,
            ) -> ::core::result::Result<Self::Output, ::waypost::__private::Error> {
                #body
            }
        }

        #step_impl
    }
}

/// The parameters that bind the step context and the input (`_` for what the function
/// does not take, so that nothing is unused), and the arguments of `call`. The async
/// closure owns its context and lends it (`borrow_cx`); `call_sync` has a reference.
fn call_args(step: &Step, borrow_cx: bool) -> (TokenStream, TokenStream, TokenStream) {
    let (cx_param, cx_arg) = match step.context() {
        Some(_) if borrow_cx => (quote!(__waypost_cx), quote!(&__waypost_cx,)),
        Some(_) => (quote!(__waypost_cx), quote!(__waypost_cx,)),
        None => (quote!(_), quote!()),
    };
    let (input_param, input_arg) = match step.input() {
        Some(_) => (quote!(__waypost_input), quote!(__waypost_input)),
        None => (quote!(_), quote!()),
    };
    (cx_param, input_param, quote!(#cx_arg #input_arg))
}

/// `impl Step` for the unit struct, with `run`'s body (which sees `__waypost_cx` and
/// `__waypost_input`).
fn step_impl(
    step: &Step,
    input_ty: &TokenStream,
    output_ty: &TokenStream,
    run: &TokenStream,
) -> TokenStream {
    let ident = &step.func.sig.ident;
    let name = &step.name;
    quote! {
        impl ::waypost::__private::Step for #ident {
            type Input = #input_ty;
            type Output = #output_ty;

            fn name(&self) -> &str {
                #name
            }

            fn run(
                &self,
                __waypost_cx: &::waypost::__private::Context,
                __waypost_input: Self::Input,
            ) -> impl ::core::future::Future<
                Output = ::core::result::Result<Self::Output, ::waypost::__private::Error>,
            > + ::core::marker::Send {
                #run
            }
        }
    }
}

/// Statements turning the value of `call` (the function's return value) into
/// `Result<Output, Error>`.
fn wrap_output(step: &Step, call: &TokenStream) -> TokenStream {
    match &step.output {
        // Not `Ok(call)`: clippy's `unit_arg` would fire in the user's crate.
        Output::Unit => quote! {
            #call;
            ::core::result::Result::Ok(())
        },
        Output::Value(_) => quote!(::core::result::Result::Ok(#call)),
        // The autoref trick picks `NamedError` (keeps the error's name) over
        // `Into<Error>`; spanned at the return type, where a missing conversion is
        // reported.
        Output::Fallible(ty) => quote_spanned! {ty.span()=>
            ::core::result::Result::map_err(#call, |__waypost_err| {
                #[allow(unused_imports)]
                use ::waypost::__private::{ViaInto as _, ViaNamed as _};
                (&&::waypost::__private::ErrWrap::new(__waypost_err)).__into_error()
            })
        },
    }
}

/// Splits the function's attributes: outer `#[cfg]`s go on every generated item, outer
/// docs on the struct, the rest (`#[allow]`, `#[inline]`, inner attributes) on `call`.
fn split_attrs(attrs: &[Attribute]) -> (Vec<&Attribute>, Vec<&Attribute>, Vec<&Attribute>) {
    let mut cfgs = Vec::new();
    let mut docs = Vec::new();
    let mut rest = Vec::new();
    for attr in attrs {
        let outer = matches!(attr.style, AttrStyle::Outer);
        if outer && attr.path().is_ident("cfg") {
            cfgs.push(attr);
        } else if outer && attr.path().is_ident("doc") {
            docs.push(attr);
        } else {
            rest.push(attr);
        }
    }
    (cfgs, docs, rest)
}
