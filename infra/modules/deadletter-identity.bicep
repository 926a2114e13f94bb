// mpe-approver: the identity the system topics deployed by the management group's policy
// (managementgroup.bicep) write dead letters with. Deployed into the main resource group (where the storage
// account is), once per instance: a user-assigned identity with Storage Blob Data Contributor on the
// dead-letter container only (modules/deadletter-access.bicep). It can do nothing else: unlike the
// approver's identity, it cannot approve a connection or send to the work queue. One identity for every
// topic, because the policy's deployment cannot grant each topic's own identity a role in the main
// resource group without rights to assign roles there.

targetScope = 'resourceGroup'

@description('Name of the storage account holding the dead-letter container.')
param storageAccountName string

@description('Name of the dead-letter blob container.')
param containerName string

@description('Name of the identity.')
param identityName string

@description('Region of the identity.')
param location string = resourceGroup().location

@description('Tags for the identity.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: identityName
  location: location
  tags: tags
}

module access 'deadletter-access.bicep' = {
  name: 'mpe-approver-dl-${uniqueString(identity.id)}'
  params: {
    storageAccountName: storageAccountName
    containerName: containerName
    principalId: identity.properties.principalId
  }
}

@description('Resource id of the dead-letter identity.')
output identityId string = identity.id

@description('Principal id of the dead-letter identity.')
output principalId string = identity.properties.principalId
