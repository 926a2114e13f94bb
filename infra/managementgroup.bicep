// mpe-approver: watching every subscription under a management group, present and future (issue #22).
// Deployed once per management group (after main.bicep and the code, like subscription.bicep):
//
//   az deployment mg create --management-group-id <mg> -l <location> -f infra/managementgroup.bicep \
//     -p functionAppId=<main output functionAppId> identityPrincipalId=<main output identityPrincipalId> \
//        deadLetterStorageAccountId=<main output storageAccountId>
//
// (infra/deploy.sh --management-group <mg> does it.) Deploys:
//   - the approver's role at the group: the custom role "MPE Approver (<group>)" (infra/generated/role.json, the
//     role subscription.bicep defines per subscription, plus Microsoft.Management/managementGroups/descendants/read
//     so that MPE_ALLOW may name the group), assignable at the group and assigned there to the approver's
//     identity. An assignment at a group is inherited by every subscription under it, present and future:
//     no per-subscription copy is needed;
//   - an Azure Policy definition (deployIfNotExists, on Microsoft.Resources/subscriptions) and its assignment at
//     the group, with a system-assigned identity: for every subscription under the group without this
//     instance's event subscription, a deployment of what subscription.bicep deploys for watchEvents=true (the
//     events resource group, the Microsoft.Resources.Subscriptions system topic, the event subscription to
//     MpeEvent with the same filter, retries and dead-lettering). Azure Policy runs it when a subscription is
//     created in or moved into the group; the existing ones are deployed by a remediation task (created here
//     with remediate=true; run again with `az policy remediation create` after the first compliance scan);
//   - the policy identity's rights, nothing wider: the custom role "MPE Approver watch deployer (<group>)" at the
//     group (resource groups, deployments, Event Grid system topics and event subscriptions: read and write) and
//     Managed Identity Operator on the one dead-letter identity;
//   - in the main resource group, that dead-letter identity (modules/deadletter-identity.bicep): the system topics
//     the policy deploys write dead letters with it (a topic's own identity cannot be granted a role there by the
//     policy's deployment without rights to assign roles in the main resource group).
// Exemptions work as Azure Policy's do: a Microsoft.Authorization/policyExemptions on a subscription (or a
// resource group, for the events group) under the group, for this assignment, stops the deployments there and
// its non-compliance; the role assignment at the group still reaches it (MPE_ALLOW decides what is approved).
// A subscription that already has a Microsoft.Resources.Subscriptions system topic (Azure allows one) cannot get
// a second: its remediation fails; deploy subscription.bicep there (deploy.sh --watch adopts the topic) and
// exempt it. The deploying principal needs, at the group, rights to create role definitions and assignments,
// policy definitions, assignments and remediations (Owner, or Resource Policy Contributor + User Access
// Administrator), and in the main resource group rights to create an identity and a role assignment on it.

targetScope = 'managementGroup'

@description('Resource id of the Function App (main.bicep output functionAppId).')
param functionAppId string

@description('Principal (object) id of the approver\'s user-assigned identity (main.bicep output identityPrincipalId).')
param identityPrincipalId string

@description('Resource id of the storage account for Event Grid dead letters (main.bicep output storageAccountId); in a subscription the deploying principal can reach.')
param deadLetterStorageAccountId string

@description('Blob container for dead letters (main.bicep output deadLetterContainerName).')
param deadLetterContainerName string = 'eventgrid-deadletter'

@description('Name of this approver instance (lower-case letters, digits, hyphens), as for subscription.bicep: every name that could collide with another approver derives from it.')
@minLength(1)
@maxLength(20)
param instanceName string = 'default'

@description('Region of the policy assignment\'s identity, of the policy\'s subscription deployments and of the events resource groups.')
param location string = deployment().location

@description('Resource group for the Event Grid resources in each subscription (as subscription.bicep names it).')
@minLength(1)
@maxLength(90)
param eventsResourceGroupName string = instanceName == 'default' ? 'rg-mpe-approver-events' : 'rg-mpe-approver-${instanceName}-events'

@description('Name of the system topic created in each subscription (as subscription.bicep names it).')
param systemTopicName string = instanceName == 'default' ? 'mpe-approver-subscription-events' : 'mpe-approver-${instanceName}-subscription-events'

@description('Name of the event subscription (as subscription.bicep names it); the policy looks for it by this name.')
param eventSubscriptionName string = instanceName == 'default' ? 'mpe-approver' : 'mpe-approver-${instanceName}'

@description('The policy\'s effect: DeployIfNotExists (deploy), AuditIfNotExists (only report the subscriptions not watched), Disabled.')
@allowed([
  'DeployIfNotExists'
  'AuditIfNotExists'
  'Disabled'
])
param policyEffect string = 'DeployIfNotExists'

@description('Create a remediation task for the subscriptions already under the group (those the last compliance scan found non-compliant).')
param remediate bool = true

@description('Actions added to the approver\'s role, e.g. the Actions of generated/role-opt-in.json (check they exist in this cloud first).')
param additionalRoleActions array = []

@description('Tags for the resources the policy deploys and the dead-letter identity.')
param tags object = {}

// The approver's role, as `mpe-approver print role` generates it (never copied here), plus the hierarchy read
// a management group scope of MPE_ALLOW needs (src/handler/groups.rs).
var role = loadJsonContent('generated/role.json')
var hierarchyActions = [
  'Microsoft.Management/managementGroups/descendants/read'
]
// The policy identity's role: what the deployment below needs, nothing else.
var deployerActions = [
  'Microsoft.Resources/subscriptions/resourceGroups/read'
  'Microsoft.Resources/subscriptions/resourceGroups/write'
  'Microsoft.Resources/deployments/read'
  'Microsoft.Resources/deployments/write'
  'Microsoft.Resources/deployments/validate/action'
  'Microsoft.Resources/deployments/operations/read'
  'Microsoft.EventGrid/systemTopics/read'
  'Microsoft.EventGrid/systemTopics/write'
  'Microsoft.EventGrid/systemTopics/eventSubscriptions/read'
  'Microsoft.EventGrid/systemTopics/eventSubscriptions/write'
]
// The MPE write operations the handler acts on (`mpe-approver print operations`), as subscription.bicep's filter.
var watchedOperations = loadJsonContent('generated/operations.json')

var groupName = managementGroup().name
var suffix = instanceName == 'default' ? '' : ' ${instanceName}'
var approverRoleName = guid(managementGroup().id, 'mpe-approver-role', instanceName)
var deployerRoleName = guid(managementGroup().id, 'mpe-approver-watch-deployer', instanceName)
// Policy assignment names at a management group hold 24 characters at most.
var policyAssignmentName = instanceName == 'default' ? 'mpe-approver-watch' : 'mpe-watch-${uniqueString(instanceName)}'
var policyDefinitionName = instanceName == 'default' ? 'mpe-approver-watch' : 'mpe-approver-${instanceName}-watch'
var eventsDeploymentName = instanceName == 'default' ? 'mpe-approver-events' : 'mpe-approver-${instanceName}-events'
var deadLetterIdentityName = instanceName == 'default' ? 'id-mpe-approver-deadletter' : 'id-mpe-approver-${instanceName}-deadletter'
// /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Storage/storageAccounts/<name>
var deadLetterIdParts = split(deadLetterStorageAccountId, '/')
var managedIdentityOperator = 'f1a07417-d97a-45cb-824c-7a7467783830'

// ---------------------------------------------------------------------------------------------------
// The approver's role at the group (inherited by every subscription under it)
// ---------------------------------------------------------------------------------------------------

resource approverRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: approverRoleName
  properties: {
    roleName: '${role.Name}${suffix} (${groupName})'
    description: '${role.Description} At the management group ${groupName}, with its hierarchy read.'
    type: 'CustomRole'
    permissions: [
      {
        actions: concat(role.Actions, hierarchyActions, additionalRoleActions)
        notActions: role.NotActions
        dataActions: role.DataActions
        notDataActions: role.NotDataActions
      }
    ]
    assignableScopes: [
      managementGroup().id
    ]
  }
}

resource approverRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(managementGroup().id, identityPrincipalId, approverRole.id)
  properties: {
    roleDefinitionId: approverRole.id
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// ---------------------------------------------------------------------------------------------------
// The dead-letter identity, in the main resource group
// ---------------------------------------------------------------------------------------------------

module deadLetterIdentity 'modules/deadletter-identity.bicep' = {
  name: instanceName == 'default' ? 'mpe-approver-deadletter-identity' : 'mpe-approver-${instanceName}-deadletter-identity'
  scope: resourceGroup(deadLetterIdParts[2], deadLetterIdParts[4])
  params: {
    storageAccountName: deadLetterIdParts[8]
    containerName: deadLetterContainerName
    identityName: deadLetterIdentityName
    tags: tags
  }
}

// ---------------------------------------------------------------------------------------------------
// What the policy deploys into each subscription: subscription.bicep's Event Grid part (modules/events.bicep),
// as an ARM template (Azure Policy takes JSON; Bicep writes each string starting with [ escaped, so the
// expressions below reach the deployment, not this one)
// ---------------------------------------------------------------------------------------------------

var eventsTemplate = {
  '$schema': 'https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#'
  contentVersion: '1.0.0.0'
  resources: [
    {
      type: 'Microsoft.Resources/resourceGroups'
      apiVersion: '2024-11-01'
      name: eventsResourceGroupName
      location: location
      tags: tags
    }
    {
      type: 'Microsoft.Resources/deployments'
      apiVersion: '2024-11-01'
      name: eventsDeploymentName
      resourceGroup: eventsResourceGroupName
      dependsOn: [
        '[subscriptionResourceId(\'Microsoft.Resources/resourceGroups\', \'${eventsResourceGroupName}\')]'
      ]
      properties: {
        mode: 'Incremental'
        expressionEvaluationOptions: {
          scope: 'inner'
        }
        template: {
          '$schema': 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#'
          contentVersion: '1.0.0.0'
          resources: [
            {
              type: 'Microsoft.EventGrid/systemTopics'
              apiVersion: '2025-02-15'
              name: systemTopicName
              location: 'global'
              tags: tags
              identity: {
                type: 'UserAssigned'
                userAssignedIdentities: json('{"${deadLetterIdentity.outputs.identityId}": {}}')
              }
              properties: {
                source: '[subscription().id]'
                topicType: 'Microsoft.Resources.Subscriptions'
              }
            }
            {
              type: 'Microsoft.EventGrid/systemTopics/eventSubscriptions'
              apiVersion: '2025-02-15'
              name: '${systemTopicName}/${eventSubscriptionName}'
              dependsOn: [
                '[resourceId(\'Microsoft.EventGrid/systemTopics\', \'${systemTopicName}\')]'
              ]
              properties: {
                destination: {
                  endpointType: 'AzureFunction'
                  properties: {
                    resourceId: '${functionAppId}/functions/MpeEvent'
                    maxEventsPerBatch: 1
                    preferredBatchSizeInKilobytes: 64
                  }
                }
                eventDeliverySchema: 'EventGridSchema'
                filter: {
                  includedEventTypes: [
                    'Microsoft.Resources.ResourceWriteSuccess'
                  ]
                  advancedFilters: [
                    {
                      operatorType: 'StringIn'
                      key: 'data.operationName'
                      values: watchedOperations
                    }
                  ]
                }
                retryPolicy: {
                  maxDeliveryAttempts: 30
                  eventTimeToLiveInMinutes: 1440
                }
                deadLetterWithResourceIdentity: {
                  identity: {
                    type: 'UserAssigned'
                    userAssignedIdentity: deadLetterIdentity.outputs.identityId
                  }
                  deadLetterDestination: {
                    endpointType: 'StorageBlob'
                    properties: {
                      resourceId: deadLetterStorageAccountId
                      blobContainerName: deadLetterContainerName
                    }
                  }
                }
              }
            }
          ]
        }
      }
    }
  ]
}

// ---------------------------------------------------------------------------------------------------
// The policy, its assignment and its identity's rights
// ---------------------------------------------------------------------------------------------------

resource deployerRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: deployerRoleName
  properties: {
    roleName: 'MPE Approver watch deployer${suffix} (${groupName})'
    description: 'mpe-approver: the policy assignment that watches every subscription of ${groupName} deploys the events resource group, system topic and event subscription.'
    type: 'CustomRole'
    permissions: [
      {
        actions: deployerActions
        notActions: []
      }
    ]
    assignableScopes: [
      managementGroup().id
    ]
  }
}

resource watchPolicy 'Microsoft.Authorization/policyDefinitions@2023-04-01' = {
  name: policyDefinitionName
  properties: {
    policyType: 'Custom'
    mode: 'All'
    displayName: 'mpe-approver${suffix}: watch each subscription\'s managed private endpoint writes'
    description: 'Deploys, in each subscription without it, the Event Grid system topic and event subscription that send managed private endpoint writes to the mpe-approver${suffix} function app (what infra/subscription.bicep deploys).'
    metadata: {
      category: 'Event Grid'
    }
    parameters: {
      effect: {
        type: 'String'
        allowedValues: [
          'DeployIfNotExists'
          'AuditIfNotExists'
          'Disabled'
        ]
        defaultValue: 'DeployIfNotExists'
        metadata: {
          displayName: 'Effect'
          description: 'DeployIfNotExists deploys; AuditIfNotExists only reports.'
        }
      }
    }
    policyRule: {
      if: {
        field: 'type'
        equals: 'Microsoft.Resources/subscriptions'
      }
      then: {
        effect: '[parameters(\'effect\')]'
        details: {
          type: 'Microsoft.EventGrid/systemTopics/eventSubscriptions'
          name: '${systemTopicName}/${eventSubscriptionName}'
          resourceGroupName: eventsResourceGroupName
          existenceScope: 'ResourceGroup'
          deploymentScope: 'Subscription'
          roleDefinitionIds: [
            '/providers/Microsoft.Authorization/roleDefinitions/${deployerRoleName}'
            '/providers/Microsoft.Authorization/roleDefinitions/${managedIdentityOperator}'
          ]
          deployment: {
            location: location
            properties: {
              mode: 'incremental'
              template: eventsTemplate
            }
          }
        }
      }
    }
  }
  dependsOn: [
    deployerRole
  ]
}

resource watchAssignment 'Microsoft.Authorization/policyAssignments@2023-04-01' = {
  name: policyAssignmentName
  location: location
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    displayName: 'mpe-approver${suffix}: watch every subscription of ${groupName}'
    policyDefinitionId: watchPolicy.id
    enforcementMode: 'Default'
    parameters: {
      effect: {
        value: policyEffect
      }
    }
    nonComplianceMessages: [
      {
        message: 'This subscription\'s managed private endpoint writes do not reach mpe-approver${suffix}: no event subscription ${eventSubscriptionName} in ${eventsResourceGroupName}.'
      }
    ]
  }
}

resource deployerRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(managementGroup().id, watchAssignment.id, deployerRole.id)
  properties: {
    roleDefinitionId: deployerRole.id
    principalId: watchAssignment.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

module identityOperator 'modules/identity-operator.bicep' = {
  name: instanceName == 'default' ? 'mpe-approver-watch-identity-operator' : 'mpe-approver-${instanceName}-watch-identity-operator'
  scope: resourceGroup(deadLetterIdParts[2], deadLetterIdParts[4])
  params: {
    identityName: deadLetterIdentityName
    principalId: watchAssignment.identity.principalId
  }
  dependsOn: [
    deadLetterIdentity
  ]
}

resource remediation 'Microsoft.PolicyInsights/remediations@2021-10-01' = if (remediate && policyEffect == 'DeployIfNotExists') {
  name: instanceName == 'default' ? 'mpe-approver-watch-existing' : 'mpe-approver-${instanceName}-watch-existing'
  properties: {
    policyAssignmentId: watchAssignment.id
    resourceDiscoveryMode: 'ExistingNonCompliant'
  }
  dependsOn: [
    deployerRoleAssignment
    identityOperator
  ]
}

// ---------------------------------------------------------------------------------------------------
// Outputs
// ---------------------------------------------------------------------------------------------------

@description('Resource id of the policy assignment (for exemptions and remediations).')
output policyAssignmentId string = watchAssignment.id

@description('Resource id of the policy definition.')
output policyDefinitionId string = watchPolicy.id

@description('Principal id of the policy assignment\'s identity.')
output policyPrincipalId string = watchAssignment.identity.principalId

@description('Resource id of the approver\'s custom role at the group.')
output roleDefinitionId string = approverRole.id

@description('Resource id of the policy identity\'s custom role at the group.')
output deployerRoleDefinitionId string = deployerRole.id

@description('Resource id of the dead-letter identity the deployed system topics use.')
output deadLetterIdentityId string = deadLetterIdentity.outputs.identityId
