/** The API listener's readiness (PostgreSQL only): what a Kubernetes readinessProbe asks. */
export const API_READINESS_PATH = "/api/readyz";
