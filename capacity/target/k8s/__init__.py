"""The Kubernetes API parts of the deployed target (capacity/target/deployed.py): what
`capacity report --stack` reaches in a cluster.

stack         the Pulumi stack's outputs (namespace, in-cluster URLs) and its kubeconfig context
kubeapi       the kubernetes client from a kubeconfig, and API errors turned into TargetErrors
scale         scale each framework's Deployment (and pin its HPA), wait ready, restore on exit
portforward   a loopback port that reaches a pod port through the API server, re-opened on drop
scrape        Prometheus scrape targets recognised by their labels, not by job names
nodes         the cluster's nodes and daemonset requests, read once for the "this cluster" table
profile       the plan's step length and scrape interval for a kubelet's 10 s cAdvisor refresh
"""
