// mpe-approver: lets the management group's policy assignment (its system-assigned identity) attach the
// dead-letter identity (modules/deadletter-identity.bicep) to the system topics it deploys: Managed
// Identity Operator on that one identity, nothing wider.

targetScope = 'resourceGroup'

@description('Name of the dead-letter identity.')
param identityName string

@description('Principal id of the policy assignment\'s identity.')
param principalId string

// Managed Identity Operator (Microsoft.ManagedIdentity/userAssignedIdentities/*/read, .../*/assign/action).
var managedIdentityOperator = 'f1a07417-d97a-45cb-824c-7a7467783830'

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: identityName
}

resource operator 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(identity.id, principalId, managedIdentityOperator)
  scope: identity
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', managedIdentityOperator)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'mpe-approver policy assignment attaches the dead-letter identity to the system topics it deploys.'
  }
}

@description('Resource id of the role assignment.')
output roleAssignmentId string = operator.id
