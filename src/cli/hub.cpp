// `ztune login` and `ztune upload`: the ModelScope hub from the command line.
#include <cstdio>

#include "cli/commands.h"
#include "cli/infer_export_args.h"
#include "core/check.h"
#include "hub/modelscope.h"

namespace zt::cli {

int run_login(const std::vector<std::string>& argv) {
  LoginArgs args;
  if (!parse_command(login_table(), argv, args)) return 0;
  ZT_REQUIRE(args.token.has_value() && !args.token->empty(), "pass --token (an access token from the hub's settings page)");
  hub::HubClient hub({"", *args.token});
  const std::string user = hub.login();
  hub::save_hub_token(*args.token);
  std::printf("logged in%s; the token is saved for later hub commands\n", user.empty() ? "" : (" as " + user).c_str());
  return 0;
}

int run_upload(const std::vector<std::string>& argv) {
  UploadArgs args;
  if (!parse_command(upload_table(), argv, args)) return 0;
  ZT_REQUIRE(!args.repo_id.empty() && !args.local_path.empty(),
             "usage: ztune upload REPO_ID LOCAL_PATH [PATH_IN_REPO] [--repo-type model|dataset]");
  const std::vector<hub::UploadItem> items = hub::upload_items(args.local_path, args.path_in_repo);
  hub::HubClient hub({"", hub::resolve_hub_token(args.token)});
  hub.ensure_repo(args.repo_type, args.repo_id, false);
  hub.upload(args.repo_type, args.repo_id, items, args.commit_message, args.revision);
  std::printf("uploaded %zu file%s to %s %s\n", items.size(), items.size() == 1 ? "" : "s", args.repo_type.c_str(),
              args.repo_id.c_str());
  return 0;
}

}  // namespace zt::cli
