import ImpulseConfig
import NIOConcurrencyHelpers
import SenderAuth

/// DKIM signing at reception: the opendkim stanza's policy and the `opendkim_sign` option of
/// each scope (global, binding_group, binding, domain — Momentum's fallback order). Replaced as
/// a whole on `config reload`.
package struct ReceptionSigning: Sendable {
    package var policy: DKIMSigningPolicy
    package var outbound: OutboundConfiguration
    /// Binding name → its binding_group.
    package var groups: [String: String]

    package init(policy: DKIMSigningPolicy, outbound: OutboundConfiguration, bindings: [BindingDefinition]) {
        self.policy = policy
        self.outbound = outbound
        self.groups = Dictionary(bindings.compactMap { binding in binding.group.map { (binding.name, $0) } }) { a, _ in
            a
        }
    }

    /// `opendkim_sign` in force for a message of `binding` to `domains`: signed when any of its
    /// recipient domains' scopes allows it (one signature serves every copy).
    package func allowed(binding: String, domains: Set<String>) -> Bool {
        let group = groups[binding]
        return domains.contains { outbound.resolve(binding: binding, group: group, domain: $0).opendkimSign }
    }
}
