//! Generating the step: a unit struct named after the function, the function as its
//! `call` method, and `Step` (plus `SyncStep` for a plain `fn`) impls.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{Attribute, ReturnType};

use crate::ast::{self, StepFn};

/// Expands `#[step(args)] item`; on error, the errors plus the item unchanged, so that
/// IDEs keep working on the function.
pub(crate) fn step(args: TokenStream, item: &TokenStream) -> TokenStream {
    match ast::parse(args, item.clone()) {
        Ok(step) => expand(&step),
        Err(error) => {
            let errors = error.to_compile_error();
            quote!(#errors #item)
        }
    }
}

fn expand(step: &StepFn) -> TokenStream {
    let item = &step.item;
    let vis = &item.vis;
    let ident = &item.sig.ident;
    let name = &step.name;
    let is_async = item.sig.asyncness.is_some();

    let (docs, cfgs, other_attrs) = split_attrs(&item.attrs);
    let struct_doc = if docs.is_empty() {
        let line = format!(" The `{name}` step.");
        quote!(#[doc = #line])
    } else {
        quote!(#(#docs)*)
    };

    let mut call_fn = item.clone();
    call_fn.attrs = other_attrs;
    call_fn.sig.ident = format_ident!("call");
    call_fn.vis = vis.clone();

    let input_ty = step
        .input
        .as_ref()
        .map_or_else(|| quote!(()), |(_, ty)| quote!(#ty));
    let output_ty = match &item.sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) if step.fallible => {
            quote!(<#ty as ::waypost::__private::StepResult>::Ok)
        }
        ReturnType::Type(_, ty) => quote!(#ty),
    };

    let cx = format_ident!("__waypost_cx");
    let input = format_ident!("__waypost_input");
    let mut call_args = Vec::new();
    if step.takes_context {
        // The async closure owns its context; `call_sync` borrows one.
        call_args.push(if is_async { quote!(&#cx) } else { quote!(#cx) });
    }
    if step.input.is_some() {
        call_args.push(quote!(#input));
    }
    let call = if is_async {
        quote!(#ident::call(#(#call_args),*).await)
    } else {
        quote!(#ident::call(#(#call_args),*))
    };
    let convert = if step.fallible {
        quote! {
            match #call {
                ::core::result::Result::Ok(output) => ::core::result::Result::Ok(output),
                ::core::result::Result::Err(error) => ::core::result::Result::Err({
                    #[allow(unused_imports)]
                    use ::waypost::__private::{ViaInto as _, ViaNamed as _};
                    (&&::waypost::__private::ErrWrap::new(error)).__into_error()
                }),
            }
        }
    } else {
        quote!(::core::result::Result::Ok(#call))
    };

    let step_impls = if is_async {
        quote! {
            impl ::waypost::__private::Step for #ident {
                type Input = #input_ty;
                type Output = #output_ty;

                fn name(&self) -> &str {
                    #name
                }

                fn run(
                    &self,
                    cx: &::waypost::__private::Context,
                    input: Self::Input,
                ) -> impl ::core::future::Future<
                    Output = ::core::result::Result<Self::Output, ::waypost::__private::Error>,
                > + ::core::marker::Send {
                    ::waypost::__private::run_task(
                        cx,
                        #name,
                        input,
                        #[allow(unused_variables)]
                        |#cx: ::waypost::__private::StepContext, #input: #input_ty| async move { #convert },
                    )
                }
            }
        }
    } else {
        quote! {
            impl ::waypost::__private::SyncStep for #ident {
                #[allow(unused_variables)]
                fn call_sync(
                    &self,
                    #cx: &::waypost::__private::StepContext,
                    #input: Self::Input,
                ) -> ::core::result::Result<Self::Output, ::waypost::__private::Error> {
                    #convert
                }
            }

            impl ::waypost::__private::Step for #ident {
                type Input = #input_ty;
                type Output = #output_ty;

                fn name(&self) -> &str {
                    #name
                }

                fn run(
                    &self,
                    cx: &::waypost::__private::Context,
                    input: Self::Input,
                ) -> impl ::core::future::Future<
                    Output = ::core::result::Result<Self::Output, ::waypost::__private::Error>,
                > + ::core::marker::Send {
                    ::waypost::__private::run_sync_task(self, cx, input)
                }
            }
        }
    };

    quote! {
        #struct_doc
        #(#cfgs)*
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, Default)]
        #vis struct #ident;

        #(#cfgs)*
        impl #ident {
            /// Calls the function directly, outside any workflow (no checkpoint, no retry).
            // A step owns its input by design (it comes from a checkpoint or a previous step).
            #[allow(clippy::needless_pass_by_value)]
            #call_fn
        }

        #(#cfgs)*
        const _: () = {
            #step_impls
        };
    }
}

/// Splits attributes into docs (for the struct), `cfg`s (for every item) and the rest
/// (for the `call` function).
fn split_attrs(attrs: &[Attribute]) -> (Vec<&Attribute>, Vec<&Attribute>, Vec<Attribute>) {
    let mut docs = Vec::new();
    let mut cfgs = Vec::new();
    let mut rest = Vec::new();
    for attr in attrs {
        if attr.path().is_ident("doc") {
            docs.push(attr);
        } else if attr.path().is_ident("cfg") {
            cfgs.push(attr);
        } else {
            rest.push(attr.clone());
        }
    }
    (docs, cfgs, rest)
}
