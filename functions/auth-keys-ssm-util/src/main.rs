use auth_keys_ssm_util as function;

fn main() -> Result<(), lambda_runtime::Error> {
    scv_shared::lambda::main(function::CATEGORY, env!("CARGO_CRATE_NAME"), function::Deps::from_env, function::handler)
}
