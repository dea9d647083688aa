//! `lifecycle`: restart, shutdown and the config file over the API (`/v1/config`,
//! `/v1/agent/*`) and as job kinds (`agent.restart`, `agent.shutdown`). Always on; no task.

use crate::{api, executors::lifecycle::AgentAction};

use super::Registrar;

pub fn register(r: &mut Registrar<'_>) -> anyhow::Result<()> {
    let l = &r.shared.lifecycle;
    for restart in [true, false] {
        r.kinds.register(AgentAction {
            lifecycle: l.clone(),
            restart,
        });
    }
    r.routes.extend(api::lifecycle::routes(l));
    Ok(())
}
