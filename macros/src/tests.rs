//! Unit tests of parsing, checking and expansion, on `proc_macro2` tokens.

use proc_macro2::TokenStream;
use quote::quote;

use crate::check::GENERICS;
use crate::expand;

/// The messages of every error `#[step(args)]` on `item` reports, in order.
fn errors(args: TokenStream, item: TokenStream) -> Vec<String> {
    match expand::parse(args, item) {
        Ok(_) => Vec::new(),
        Err(err) => err.into_iter().map(|e| e.to_string()).collect(),
    }
}

/// The expansion of `#[step(args)]` on `item`, checked to be valid Rust.
fn expand(args: TokenStream, item: TokenStream) -> String {
    let out = expand::step(args, item);
    syn::parse2::<syn::File>(out.clone()).expect("the expansion parses as items");
    out.to_string()
}

fn has(haystack: &str, needle: &TokenStream) -> bool {
    haystack.contains(&needle.to_string())
}

#[test]
fn accepts_every_allowed_shape() {
    let shapes = [
        quote!(
            fn f() {}
        ),
        quote!(
            fn f() -> () {}
        ),
        quote!(
            fn f(x: u32) -> u32 {
                x
            }
        ),
        quote!(
            fn f(cx: &StepContext) {}
        ),
        quote!(
            fn f(cx: &waypost::StepContext, x: u32) -> String {
                todo!()
            }
        ),
        quote!(
            fn f(cx: &'_ ::waypost::StepContext, x: u32) {}
        ),
        quote!(
            async fn f((a, b): (u32, u32)) -> Result<u32, MyError> {
                Ok(a + b)
            }
        ),
        quote!(
            pub async fn f(mut v: Vec<u8>) -> anyhow::Result<Vec<u8>> {
                Ok(v)
            }
        ),
        quote!(
            pub(crate) fn f(x: u32) -> waypost::Result<u32> {
                Ok(x)
            }
        ),
    ];
    for shape in shapes {
        assert_eq!(
            errors(quote!(), shape.clone()),
            Vec::<String>::new(),
            "{shape}"
        );
        assert_eq!(
            errors(quote!(name = "custom"), shape.clone()),
            Vec::<String>::new(),
            "{shape}"
        );
    }
}

#[test]
fn too_many_inputs() {
    assert_eq!(
        errors(
            quote!(),
            quote!(
                fn f(a: u32, b: u32, c: u32) {}
            )
        ),
        ["a step takes one input argument, found 3; pass a tuple or a struct to give it more"]
    );
    // The leading context does not count.
    assert_eq!(
        errors(
            quote!(),
            quote!(
                fn f(cx: &StepContext, a: u32, b: u32) {}
            )
        ),
        ["a step takes one input argument, found 2; pass a tuple or a struct to give it more"]
    );
}

#[test]
fn misplaced_or_misborrowed_context() {
    assert_eq!(
        errors(
            quote!(),
            quote!(
                fn f(x: u32, cx: &StepContext) {}
            )
        ),
        ["the `&StepContext` argument must come first, and only once"]
    );
    assert_eq!(
        errors(
            quote!(),
            quote!(
                fn f(a: &StepContext, b: &StepContext) {}
            )
        ),
        ["the `&StepContext` argument must come first, and only once"]
    );
    assert_eq!(
        errors(
            quote!(),
            quote!(
                fn f(cx: &mut StepContext) {}
            )
        ),
        ["the step context is shared: take it as `&StepContext`, not `&mut StepContext`"]
    );
    assert_eq!(
        errors(
            quote!(),
            quote!(
                fn f(cx: StepContext, x: u32) {}
            )
        ),
        ["take the step context by reference: `&StepContext`"]
    );
}

#[test]
fn self_receiver() {
    for item in [
        quote!(
            fn f(&self) {}
        ),
        quote!(
            fn f(self, x: u32) {}
        ),
        quote!(
            fn f(self: Box<Self>, cx: &StepContext) {}
        ),
    ] {
        assert_eq!(
            errors(quote!(), item.clone()),
            ["#[step] cannot be used on a method taking `self`; use a free function"],
            "{item}"
        );
    }
}

#[test]
fn generics() {
    for item in [
        quote!(
            fn f<T>(x: T) {}
        ),
        quote!(
            fn f<const N: usize>(x: [u8; N]) {}
        ),
        quote!(
            fn f<'a>(x: &'a str) {}
        ),
        quote!(
            fn f(x: u32)
            where
                u32: Copy,
            {
            }
        ),
        quote!(
            fn f<T>(x: T)
            where
                T: Clone,
            {
            }
        ),
        quote!(
            fn f(x: impl Into<String>) {}
        ),
        quote!(
            fn f(x: Vec<impl Clone>) {}
        ),
    ] {
        assert_eq!(errors(quote!(), item.clone()), [GENERICS], "{item}");
    }
}

#[test]
fn qualifiers() {
    assert_eq!(
        errors(
            quote!(),
            quote!(
                const unsafe extern "C" fn f(x: u32, ...) {}
            )
        ),
        [
            "#[step] cannot be used on a `const fn`",
            "#[step] cannot be used on an `unsafe fn`; make the function safe and use an `unsafe` block inside",
            "#[step] cannot be used on an `extern` function; remove the ABI",
            "#[step] cannot be used on a variadic function",
        ]
    );
}

#[test]
fn impl_trait_output() {
    assert_eq!(
        errors(
            quote!(),
            quote!(
                fn f() -> impl Clone {
                    1
                }
            )
        ),
        ["#[step] cannot return `impl Trait`; name the output type"]
    );
    assert_eq!(
        errors(
            quote!(),
            quote!(
                fn f() -> Result<impl Clone, E> {
                    Ok(1)
                }
            )
        ),
        ["#[step] cannot return `impl Trait`; name the output type"]
    );
}

#[test]
fn bad_arguments() {
    let f = quote!(
        fn f() {}
    );
    assert_eq!(
        errors(quote!(rename = "x"), f.clone()),
        ["unknown #[step] argument `rename`; expected `name = \"...\"`"]
    );
    assert_eq!(
        errors(quote!(retry(3), a::b), f.clone()),
        [
            "unknown #[step] argument `retry`; expected `name = \"...\"`",
            "unknown #[step] argument `a::b`; expected `name = \"...\"`",
        ]
    );
    assert_eq!(
        errors(quote!(name = ""), f.clone()),
        ["a step name cannot be empty"]
    );
    assert_eq!(
        errors(quote!(name = "  "), f.clone()),
        ["a step name cannot be empty"]
    );
    assert_eq!(
        errors(quote!(name = 3), f.clone()),
        ["expected a string literal: `name = \"...\"`"]
    );
    assert_eq!(
        errors(quote!(name), f.clone()),
        ["expected `name = \"...\"`"]
    );
    assert_eq!(
        errors(quote!(name = "a", name = "b"), f.clone()),
        ["duplicate #[step] argument `name`"]
    );
    // Not `key = value` at all: syn's own parse error.
    assert_eq!(errors(quote!("a"), f).len(), 1);
}

#[test]
fn not_a_function() {
    for item in [
        quote!(
            struct S;
        ),
        quote!(
            enum E {}
        ),
        quote!(impl S {}),
        quote!(
            mod m {}
        ),
        quote!(
            use a::b;
        ),
    ] {
        assert_eq!(
            errors(quote!(), item.clone()),
            ["#[step] applies to a function"],
            "{item}"
        );
    }
    // Bad arguments are reported too.
    assert_eq!(
        errors(
            quote!(x = 1),
            quote!(
                struct S;
            )
        ),
        [
            "unknown #[step] argument `x`; expected `name = \"...\"`",
            "#[step] applies to a function",
        ]
    );
}

#[test]
fn collects_every_error() {
    let errors = errors(
        quote!(nme = "x"),
        quote!(
            const fn f<T>(&self, cx: &mut StepContext, a: T, b: T) -> impl Clone {}
        ),
    );
    assert_eq!(
        errors,
        [
            "unknown #[step] argument `nme`; expected `name = \"...\"`",
            "#[step] cannot be used on a `const fn`",
            GENERICS,
            "#[step] cannot be used on a method taking `self`; use a free function",
            "the step context is shared: take it as `&StepContext`, not `&mut StepContext`",
            "a step takes one input argument, found 2; pass a tuple or a struct to give it more",
            "#[step] cannot return `impl Trait`; name the output type",
        ]
    );
}

#[test]
fn failure_keeps_the_item() {
    let item = quote!(
        fn f(a: u32, b: u32) -> u32 {
            a + b
        }
    );
    let out = expand::step(quote!(), item.clone()).to_string();
    assert!(out.starts_with(&item.to_string()), "{out}");
    assert!(out.contains("compile_error"), "{out}");
    assert!(!out.contains("struct f"), "{out}");
}

#[test]
fn expands_an_async_fallible_step() {
    let out = expand(
        quote!(),
        quote! {
            /// Validates an order.
            #[allow(clippy::unused_async)]
            pub async fn validate(order: Order) -> Result<Order, PaymentError> { Ok(order) }
        },
    );
    assert!(
        has(
            &out,
            &quote!(#[doc = r" Validates an order."] #[allow(non_camel_case_types)])
        ),
        "{out}"
    );
    assert!(
        has(
            &out,
            &quote!(
                pub struct validate;
            )
        ),
        "{out}"
    );
    assert!(
        has(
            &out,
            &quote!(
                #[allow(clippy::unused_async)]
                pub async fn call(order: Order) -> Result<Order, PaymentError> {
                    Ok(order)
                }
            )
        ),
        "{out}"
    );
    assert!(
        has(&out, &quote!(impl ::waypost::__private::Step for validate)),
        "{out}"
    );
    assert!(
        has(
            &out,
            &quote!(
                type Input = Order;
            )
        ),
        "{out}"
    );
    assert!(
        has(
            &out,
            &quote!(
                type Output = <Result<Order, PaymentError> as ::waypost::__private::StepResult>::Ok;
            )
        ),
        "{out}"
    );
    assert!(
        has(
            &out,
            &quote!(
                fn name(&self) -> &str {
                    "validate"
                }
            )
        ),
        "{out}"
    );
    assert!(has(&out, &quote!(::waypost::__private::run_task)), "{out}");
    assert!(
        has(&out, &quote!(__waypost_cx, "validate", __waypost_input,)),
        "{out}"
    );
    assert!(
        has(&out, &quote!(validate::call(__waypost_input).await)),
        "{out}"
    );
    assert!(has(&out, &quote!(ErrWrap::new(__waypost_err))), "{out}");
    assert!(!out.contains("SyncStep"), "{out}");
    assert!(has(&out, &quote!(const _: () =)), "{out}");
    // The doc comment moved to the struct: only the generated one is on `call`.
    assert_eq!(out.matches("Validates an order").count(), 1, "{out}");
}

#[test]
fn expands_a_sync_step_with_context_and_name() {
    let out = expand(
        quote!(name = "price-item"),
        quote! {
            #[cfg(feature = "x")]
            fn price(cx: &StepContext, item: Item) -> Priced { todo!() }
        },
    );
    assert!(
        has(
            &out,
            &quote!(
                struct price;
            )
        ),
        "{out}"
    );
    assert!(!has(&out, &quote!(pub struct)), "{out}");
    assert!(
        has(&out, &quote!(#[doc = " The `price-item` step."])),
        "{out}"
    );
    assert_eq!(
        out.matches(&quote!(#[cfg(feature = "x")]).to_string())
            .count(),
        3,
        "{out}"
    );
    assert!(
        has(&out, &quote!(impl ::waypost::__private::SyncStep for price)),
        "{out}"
    );
    assert!(
        has(
            &out,
            &quote!(__waypost_cx: &::waypost::__private::StepContext,)
        ),
        "{out}"
    );
    assert!(
        has(
            &out,
            &quote!(::core::result::Result::Ok(price::call(
                __waypost_cx,
                __waypost_input
            )))
        ),
        "{out}"
    );
    assert!(
        has(
            &out,
            &quote!(run_sync_task(self, __waypost_cx, __waypost_input))
        ),
        "{out}"
    );
    assert!(
        has(
            &out,
            &quote!(
                fn name(&self) -> &str {
                    "price-item"
                }
            )
        ),
        "{out}"
    );
    assert!(
        has(
            &out,
            &quote!(
                type Output = Priced;
            )
        ),
        "{out}"
    );
}

#[test]
fn expands_a_step_without_input_or_output() {
    let out = expand(
        quote!(),
        quote!(
            async fn tick() {
                println!("tick");
            }
        ),
    );
    assert!(
        has(
            &out,
            &quote!(
                type Input = ();
            )
        ),
        "{out}"
    );
    assert!(
        has(
            &out,
            &quote!(
                type Output = ();
            )
        ),
        "{out}"
    );
    assert!(
        has(
            &out,
            &quote!(move |_: ::waypost::__private::StepContext, _: Self::Input|)
        ),
        "{out}"
    );
    assert!(
        has(
            &out,
            &quote!(tick::call().await; ::core::result::Result::Ok(()))
        ),
        "{out}"
    );

    let out = expand(
        quote!(),
        quote!(
            fn tick() -> () {}
        ),
    );
    assert!(
        has(
            &out,
            &quote!(fn call_sync(&self, _: &::waypost::__private::StepContext, _: Self::Input,))
        ),
        "{out}"
    );
    assert!(
        has(&out, &quote!(tick::call(); ::core::result::Result::Ok(()))),
        "{out}"
    );
}

#[test]
fn raw_identifier_names_the_step_without_prefix() {
    let out = expand(
        quote!(),
        quote!(
            fn r#type(x: u32) -> u32 {
                x
            }
        ),
    );
    assert!(
        has(
            &out,
            &quote!(
                fn name(&self) -> &str {
                    "type"
                }
            )
        ),
        "{out}"
    );
    assert!(
        has(
            &out,
            &quote!(
                struct r#type;
            )
        ),
        "{out}"
    );
}

#[test]
fn inner_attributes_stay_in_the_body() {
    let out = expand(
        quote!(),
        quote!(
            fn f(x: u32) -> u32 {
                #![allow(unused)]
                x
            }
        ),
    );
    assert!(
        has(
            &out,
            &quote!(
                fn call(x: u32) -> u32 {
                    #![allow(unused)]
                    x
                }
            )
        ),
        "{out}"
    );
}
