// mpe-approver: lets one Event Grid system topic write dead letters. Deployed by modules/events.bicep into
// the main resource group (where the storage account is), once per watched subscription: Storage Blob Data
// Contributor for the topic's system-assigned identity, on the dead-letter container only.

targetScope = 'resourceGroup'

@description('Name of the storage account holding the dead-letter container.')
param storageAccountName string

@description('Name of the dead-letter blob container.')
param containerName string

@description('Principal id of the system topic\'s system-assigned identity.')
param principalId string

// Storage Blob Data Contributor: the role Event Grid documents for blob destinations of a managed identity.
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource storage 'Microsoft.Storage/storageAccounts@2024-01-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2024-01-01' existing = {
  parent: storage
  name: 'default'
}

resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' existing = {
  parent: blobService
  name: containerName
}

resource deadLetterWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(container.id, principalId, storageBlobDataContributor)
  scope: container
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Event Grid system topic writes dead-lettered mpe-approver events.'
  }
}

@description('Resource id of the role assignment.')
output roleAssignmentId string = deadLetterWriter.id
