// The Kubernetes permissions the operator uses, exactly: the e2e suite runs the operator as a
// ServiceAccount bound to these rules only (a missing verb fails it), and the Helm chart's
// ClusterRole/Role should grant the same (docs/operator.md).
//   pipelines: informer (list, watch), finalizer add/remove (patch); pipelines/status: status writes
//   deployments/configmaps/services: server-side apply (patch; create when missing); deployments
//     also list/watch (informer); deployments and configmaps delete (a version's, after a promotion
//     or an abort; the delete policy); pods: list (a version's pods gone, restarts of a replay)
//   secrets: get (spec.redis.secretRef, spec.kafka.tls/sasl Secrets); events: create, patch (count of a repeated event)
//   leases: leader election
export const OPERATOR_RULES = [
  { apiGroups: ['kappaflow.io'], resources: ['pipelines'], verbs: ['list', 'watch', 'patch'] },
  { apiGroups: ['kappaflow.io'], resources: ['pipelines/status'], verbs: ['patch'] },
  { apiGroups: ['apps'], resources: ['deployments'], verbs: ['list', 'watch', 'create', 'patch', 'delete'] },
  { apiGroups: [''], resources: ['configmaps', 'services'], verbs: ['create', 'patch', 'delete'] },
  { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
  { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
  { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
];
