//! Parsing and validating `#[step]`: every problem is collected, each spanned at the
//! offending tokens, before anything is generated.

use proc_macro2::TokenStream;
use syn::parse::Parser as _;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, FnArg, ItemFn, Lit, Meta, Pat, ReturnType, Token, Type};

/// Collects errors so that one expansion reports all of them at once.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, tokens: impl quote::ToTokens, message: impl std::fmt::Display) {
        self.push_error(syn::Error::new_spanned(tokens, message));
    }

    fn push_error(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn finish(self) -> Result<(), syn::Error> {
        self.0.map_or(Ok(()), Err)
    }
}

/// A validated `#[step]` function.
pub(crate) struct StepFn {
    /// The function as written.
    pub(crate) item: ItemFn,
    /// The step name: the function's, or `name = "..."`.
    pub(crate) name: String,
    /// Whether the first argument is `&StepContext`.
    pub(crate) takes_context: bool,
    /// The input pattern and type, if the function takes an input.
    pub(crate) input: Option<(Pat, Type)>,
    /// Whether the return type is a `Result`.
    pub(crate) fallible: bool,
}

/// Parses the attribute arguments and the item, collecting every problem.
pub(crate) fn parse(args: TokenStream, item: TokenStream) -> Result<StepFn, syn::Error> {
    let item: ItemFn = match syn::parse2(item) {
        Ok(item) => item,
        Err(error) => {
            return Err(syn::Error::new(
                error.span(),
                "#[step] applies to a function",
            ));
        }
    };
    let mut errors = Errors::default();
    let name = parse_name(args, &item, &mut errors);
    check_signature(&item, &mut errors);
    let (takes_context, input) = split_inputs(&item, &mut errors);
    let fallible = returns_result(&item.sig.output);
    errors.finish()?;
    Ok(StepFn {
        item,
        name,
        takes_context,
        input,
        fallible,
    })
}

fn parse_name(args: TokenStream, item: &ItemFn, errors: &mut Errors) -> String {
    let mut name = item.sig.ident.to_string();
    let metas = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args) {
        Ok(metas) => metas,
        Err(error) => {
            errors.push_error(error);
            return name;
        }
    };
    for meta in metas {
        match &meta {
            Meta::NameValue(nv) if nv.path.is_ident("name") => match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(lit), ..
                }) if lit.value().is_empty() => {
                    errors.push(lit, "a step name cannot be empty");
                }
                Expr::Lit(ExprLit {
                    lit: Lit::Str(lit), ..
                }) => name = lit.value(),
                other => errors.push(other, "expected a string literal: `name = \"...\"`"),
            },
            other => {
                let key = other.path().get_ident().map_or_else(
                    || quote::ToTokens::to_token_stream(other.path()).to_string(),
                    ToString::to_string,
                );
                errors.push(
                    other,
                    format!("unknown #[step] argument `{key}`; expected `name = \"...\"`"),
                );
            }
        }
    }
    name
}

fn check_signature(item: &ItemFn, errors: &mut Errors) {
    let sig = &item.sig;
    if let Some(token) = &sig.constness {
        errors.push(token, "#[step] cannot be used on a `const fn`");
    }
    if let Some(token) = &sig.unsafety {
        errors.push(
            token,
            "#[step] cannot be used on an `unsafe fn`: a step must be safe to call",
        );
    }
    if let Some(abi) = &sig.abi {
        errors.push(abi, "#[step] cannot be used on an `extern` function");
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(variadic, "#[step] cannot be used on a variadic function");
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.push(
            &sig.generics,
            "#[step] does not support generic parameters; write a concrete function or use `step_fn`",
        );
    }
}

/// Splits the arguments into the optional `&StepContext` and the optional input.
fn split_inputs(item: &ItemFn, errors: &mut Errors) -> (bool, Option<(Pat, Type)>) {
    let mut typed = Vec::new();
    for arg in &item.sig.inputs {
        match arg {
            FnArg::Receiver(receiver) => errors.push(
                receiver,
                "#[step] cannot be used on a method taking `self`; use a free function",
            ),
            FnArg::Typed(pat_type) => typed.push(pat_type),
        }
    }
    let takes_context = typed.first().is_some_and(|arg| is_context(&arg.ty));
    let inputs = if takes_context {
        &typed[1..]
    } else {
        &typed[..]
    };
    if inputs.len() > 1 {
        for extra in &inputs[1..] {
            errors.push(
                extra,
                format!(
                    "a step takes one input argument, found {}; pass a tuple or a struct to give it more",
                    inputs.len()
                ),
            );
        }
    }
    let input = inputs
        .first()
        .map(|arg| ((*arg.pat).clone(), (*arg.ty).clone()));
    (takes_context, input)
}

/// `&StepContext`, `&waypost::StepContext`, ...
fn is_context(ty: &Type) -> bool {
    let Type::Reference(reference) = ty else {
        return false;
    };
    let Type::Path(path) = &*reference.elem else {
        return false;
    };
    path.path
        .segments
        .last()
        .is_some_and(|segment| segment.ident == "StepContext")
}

/// Whether the return type's last path segment is `Result`.
fn returns_result(output: &ReturnType) -> bool {
    let ReturnType::Type(_, ty) = output else {
        return false;
    };
    let Type::Path(path) = &**ty else {
        return false;
    };
    path.path
        .segments
        .last()
        .is_some_and(|segment| segment.ident == "Result")
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::parse;

    fn messages(args: proc_macro2::TokenStream, item: proc_macro2::TokenStream) -> Vec<String> {
        match parse(args, item) {
            Ok(_) => Vec::new(),
            Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn accepts_the_supported_shapes() {
        for item in [
            quote!(
                fn a() -> u32 {
                    1
                }
            ),
            quote!(
                fn a(x: u32) -> u32 {
                    x
                }
            ),
            quote!(
                async fn a(cx: &StepContext, x: u32) -> Result<u32, E> {
                    Ok(x)
                }
            ),
            quote!(
                fn a(cx: &waypost::StepContext) {}
            ),
            quote!(
                pub fn a((x, y): (u32, u32)) -> u32 {
                    x + y
                }
            ),
        ] {
            assert_eq!(
                messages(quote!(), item.clone()),
                Vec::<String>::new(),
                "{item}"
            );
        }
    }

    #[test]
    fn reads_the_name_override() {
        let step = parse(
            quote!(name = "charge-card"),
            quote!(
                fn charge(x: u32) -> u32 {
                    x
                }
            ),
        )
        .unwrap();
        assert_eq!(step.name, "charge-card");
        let step = parse(
            quote!(),
            quote!(
                fn charge(x: u32) -> Result<u32, E> {
                    Ok(x)
                }
            ),
        )
        .unwrap();
        assert_eq!(step.name, "charge");
        assert!(step.fallible);
    }

    #[test]
    fn collects_every_problem() {
        let found = messages(
            quote!(bogus = 1),
            quote!(
                unsafe fn f<T>(a: T, b: u32, c: u32) -> T {
                    a
                }
            ),
        );
        assert_eq!(
            found,
            [
                "unknown #[step] argument `bogus`; expected `name = \"...\"`",
                "#[step] cannot be used on an `unsafe fn`: a step must be safe to call",
                "#[step] does not support generic parameters; write a concrete function or use `step_fn`",
                "a step takes one input argument, found 3; pass a tuple or a struct to give it more",
                "a step takes one input argument, found 3; pass a tuple or a struct to give it more",
            ]
        );
    }

    #[test]
    fn refuses_self_empty_names_and_non_functions() {
        assert_eq!(
            messages(
                quote!(),
                quote!(
                    fn f(&self, x: u32) -> u32 {
                        x
                    }
                )
            ),
            ["#[step] cannot be used on a method taking `self`; use a free function"]
        );
        assert_eq!(
            messages(
                quote!(name = ""),
                quote!(
                    fn f() {}
                )
            ),
            ["a step name cannot be empty"]
        );
        assert_eq!(
            messages(
                quote!(),
                quote!(
                    struct S;
                )
            ),
            ["#[step] applies to a function"]
        );
    }
}
